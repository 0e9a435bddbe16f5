"""Moment memory: what mattered, kept on disk (SQLite in WAL mode plus JPEG thumbnails).

Every write is committed before the call returns, so a moment whose ``add`` returned survives a
crash. Search by filters (camera, time range, query, minimum score) uses indexes, never a scan.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from streamer import MemoryStoreError

__all__ = ["SCHEMA_VERSION", "Moment", "MomentMemory"]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS moments (
    id TEXT PRIMARY KEY,
    camera TEXT NOT NULL,
    kind TEXT NOT NULL,
    start_wall REAL NOT NULL,
    end_wall REAL NOT NULL,
    start_pts REAL NOT NULL,
    end_pts REAL NOT NULL,
    backend TEXT NOT NULL,
    semantic INTEGER NOT NULL,
    peak REAL NOT NULL,
    thumbnail TEXT,
    thumb_bytes INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS moments_camera_time ON moments (camera, start_wall);
CREATE INDEX IF NOT EXISTS moments_time ON moments (start_wall);
CREATE TABLE IF NOT EXISTS moment_queries (
    moment_id TEXT NOT NULL REFERENCES moments (id) ON DELETE CASCADE,
    query_id TEXT NOT NULL,
    query_text TEXT NOT NULL,
    score REAL NOT NULL,
    PRIMARY KEY (moment_id, query_id)
);
CREATE INDEX IF NOT EXISTS moment_queries_query ON moment_queries (query_id, score);
"""


@dataclass(frozen=True, slots=True)
class Moment:
    """A remembered span of one camera, with the queries it matched and their peak scores."""

    id: str
    camera: str
    start_wall: float
    end_wall: float
    start_pts: float
    end_pts: float
    backend: str
    semantic: bool
    peak: float
    queries: dict[str, float] = field(default_factory=dict)
    query_texts: dict[str, str] = field(default_factory=dict)
    thumbnail: str | None = None
    kind: str = "alert"

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "camera": self.camera,
            "kind": self.kind,
            "start": round(self.start_wall, 3),
            "end": round(self.end_wall, 3),
            "start_pts": round(self.start_pts, 3),
            "end_pts": round(self.end_pts, 3),
            "backend": self.backend,
            "semantic": self.semantic,
            "peak_score": round(self.peak, 2),
            "queries": {k: round(v, 2) for k, v in self.queries.items()},
            "query_texts": dict(self.query_texts),
            "thumbnail": self.thumbnail,
        }


class MomentMemory:
    """A memory folder: ``moments.sqlite`` and ``thumbs/``. Thread-safe; calls block (use a thread)."""

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = Path(path).expanduser()
        self.read_only = read_only
        self.thumbs = self.path / "thumbs"
        self._lock = threading.Lock()
        db = self.path / "moments.sqlite"
        try:
            if read_only:
                if not db.is_file():
                    raise MemoryStoreError(
                        f"no memory at {self.path} (nothing remembered yet; run 'feedwatch watch' or "
                        "'feedwatch run' first, or pass --memory DIR)"
                    )
                self._db = sqlite3.connect(f"file:{db}?mode=ro", uri=True, check_same_thread=False)
            else:
                self.thumbs.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(db, check_same_thread=False, isolation_level=None)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
                self._db.execute("PRAGMA foreign_keys=ON")
                self._migrate()
            self._check_version()
        except sqlite3.DatabaseError as exc:
            raise MemoryStoreError(f"cannot open the memory at {self.path}: {exc}") from exc
        except OSError as exc:
            if isinstance(exc, MemoryStoreError):
                raise
            raise MemoryStoreError(f"cannot create the memory at {self.path}: {exc.strerror or exc}") from exc

    def __enter__(self) -> MomentMemory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            self._db.executescript(_SCHEMA + f"PRAGMA user_version={SCHEMA_VERSION};")

    def _check_version(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            raise MemoryStoreError(
                f"the memory at {self.path} has schema version {version}; this feedwatch reads {SCHEMA_VERSION}"
            )

    @property
    def semantic_search(self) -> bool:
        """Whether text search is possible (needs an embedding model; not yet wired here)."""
        return False

    def save_snapshot(self, name: str, jpeg: bytes) -> str:
        """Write a JPEG under ``thumbs/`` atomically; return its path."""
        target = self.thumbs / f"{name}.jpg"
        tmp = target.with_suffix(".jpg.tmp")
        try:
            with open(tmp, "wb") as fh:
                fh.write(jpeg)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except OSError as exc:
            raise MemoryStoreError(f"cannot write snapshot {target}: {exc.strerror or exc}") from exc
        return str(target)

    def add(self, moment: Moment) -> None:
        """Store (or replace) a moment; durable when this returns."""
        thumb_bytes = 0
        if moment.thumbnail:
            try:
                thumb_bytes = Path(moment.thumbnail).stat().st_size
            except OSError:
                thumb_bytes = 0
        try:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.execute("DELETE FROM moment_queries WHERE moment_id = ?", (moment.id,))
                    self._db.execute(
                        "INSERT OR REPLACE INTO moments VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        (
                            moment.id,
                            moment.camera,
                            moment.kind,
                            moment.start_wall,
                            moment.end_wall,
                            moment.start_pts,
                            moment.end_pts,
                            moment.backend,
                            int(moment.semantic),
                            moment.peak,
                            moment.thumbnail,
                            thumb_bytes,
                            time.time(),
                        ),
                    )
                    self._db.executemany(
                        "INSERT INTO moment_queries VALUES (?,?,?,?)",
                        [
                            (moment.id, qid, moment.query_texts.get(qid, ""), score)
                            for qid, score in moment.queries.items()
                        ],
                    )
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            raise MemoryStoreError(f"cannot store moment {moment.id} in {self.path}: {exc}") from exc

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM moments").fetchone()[0])

    def search(
        self,
        *,
        camera: str | None = None,
        since: float | None = None,
        until: float | None = None,
        query_id: str | None = None,
        min_score: float | None = None,
        limit: int = 50,
        newest_first: bool = True,
    ) -> list[Moment]:
        """Moments matching every filter given (times are Unix seconds, overlapping the range)."""
        where: list[str] = []
        args: list[object] = []
        if camera is not None:
            where.append("m.camera = ?")
            args.append(camera)
        if since is not None:
            where.append("m.end_wall >= ?")
            args.append(since)
        if until is not None:
            where.append("m.start_wall <= ?")
            args.append(until)
        if query_id is not None:
            where.append("m.id IN (SELECT moment_id FROM moment_queries WHERE query_id = ?)")
            args.append(query_id)
        if min_score is not None:
            where.append("m.peak >= ?")
            args.append(min_score)
        sql = "SELECT * FROM moments m"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY m.start_wall {'DESC' if newest_first else 'ASC'} LIMIT ?"
        args.append(limit)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
            return [self._moment(row) for row in rows]

    def _moment(self, row: tuple[object, ...]) -> Moment:
        (mid, camera, kind, sw, ew, sp, ep, backend, semantic, peak, thumb, _tb, _created) = row
        queries: dict[str, float] = {}
        texts: dict[str, str] = {}
        for qid, text, score in self._db.execute(
            "SELECT query_id, query_text, score FROM moment_queries WHERE moment_id = ?", (mid,)
        ):
            queries[qid] = float(score)
            texts[qid] = str(text)
        return Moment(
            id=str(mid),
            camera=str(camera),
            start_wall=float(sw),  # type: ignore[arg-type]
            end_wall=float(ew),  # type: ignore[arg-type]
            start_pts=float(sp),  # type: ignore[arg-type]
            end_pts=float(ep),  # type: ignore[arg-type]
            backend=str(backend),
            semantic=bool(semantic),
            peak=float(peak),  # type: ignore[arg-type]
            queries=queries,
            query_texts=texts,
            thumbnail=None if thumb is None else str(thumb),
            kind=str(kind),
        )

    def prune(self, *, max_age_s: float, max_bytes: int, now: float | None = None) -> int:
        """Evict moments older than ``max_age_s`` and then the oldest until under ``max_bytes``."""
        now = time.time() if now is None else now
        victims: list[tuple[str, str | None]] = []
        with self._lock:
            victims += self._db.execute(
                "SELECT id, thumbnail FROM moments WHERE end_wall < ?", (now - max_age_s,)
            ).fetchall()
            total = int(self._db.execute("SELECT COALESCE(SUM(thumb_bytes), 0) FROM moments").fetchone()[0])
            total += self._db_bytes()
            if total > max_bytes:
                doomed = {v[0] for v in victims}
                for mid, thumb, size in self._db.execute(
                    "SELECT id, thumbnail, thumb_bytes FROM moments ORDER BY start_wall"
                ):
                    if total <= max_bytes:
                        break
                    if mid not in doomed:
                        victims.append((mid, thumb))
                    total -= int(size) + 512
            if not victims:
                return 0
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("DELETE FROM moments WHERE id = ?", [(v[0],) for v in victims])
            self._db.execute("COMMIT")
        for _, thumb in victims:
            if thumb:
                Path(thumb).unlink(missing_ok=True)
        log.info("memory: evicted %d moment(s)", len(victims))
        return len(victims)

    def _db_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.path.glob("moments.sqlite*") if p.is_file())

    def iter_all(self) -> Iterator[Moment]:
        """Every moment, oldest first."""
        yield from self.search(limit=-1, newest_first=False)
