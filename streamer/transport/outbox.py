"""A durable outbox: messages that must not be lost wait on disk until the broker has taken them."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from ..errors import PublishError

__all__ = ["Outbox"]


class Outbox:
    """An ordered on-disk queue (SQLite, WAL, synchronous=FULL). ``put`` is durable when it returns."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, "
                "payload BLOB NOT NULL, qos INTEGER NOT NULL)"
            )
        except (sqlite3.Error, OSError) as exc:
            raise PublishError(f"cannot open the MQTT outbox at {self.path}: {exc}") from exc

    def put(self, topic: str, payload: bytes, qos: int) -> int:
        """Store a message; :class:`PublishError` when the disk refuses it (full, read-only)."""
        try:
            with self._lock:
                sql = "INSERT INTO outbox (topic, payload, qos) VALUES (?, ?, ?)"
                return int(self._db.execute(sql, (topic, payload, qos)).lastrowid or 0)
        except sqlite3.Error as exc:
            raise PublishError(f"cannot write to the MQTT outbox at {self.path}: {exc}") from exc

    def done(self, seq: int) -> None:
        """Forget a delivered message; a disk that refuses it now leaves the row for the next start to resend."""
        try:
            with self._lock:
                self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
        except sqlite3.Error as exc:
            raise PublishError(f"cannot update the MQTT outbox at {self.path}: {exc}") from exc

    def pending(self) -> list[tuple[int, str, bytes, int]]:
        with self._lock:
            rows = self._db.execute("SELECT seq, topic, payload, qos FROM outbox ORDER BY seq").fetchall()
        return [(int(s), str(t), bytes(p), int(q)) for s, t, p, q in rows]

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
