"""One PostgreSQL connection that a store's calls share: opened at first use and again after it broke, its
errors said as :class:`MemoryStoreError` (what went wrong, where, what to check). The memory and the fleet's
tables both live on it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from streamer.errors import MemoryStoreError
from streamer.redact import redact_url

__all__ = ["PgConnection", "import_driver", "said"]

log = logging.getLogger(__name__)


def import_driver(purpose: str) -> Any:
    """The psycopg module; a clear error when the postgres extra is not installed (``purpose``: what needs it)."""
    try:
        import psycopg
    except ImportError as exc:
        raise MemoryStoreError(
            f"{purpose} names PostgreSQL, but the PostgreSQL driver is not installed: pip install 'feedwatch[postgres]'"
        ) from exc
    return psycopg


def said(exc: BaseException) -> str:
    """A driver's message on one line."""
    return " ".join(str(exc).split())


class PgConnection:
    """A connection to ``url`` in autocommit mode, shared under :attr:`lock` (reentrant: a caller may hold it across
    several transactions). ``what`` names the database in messages ("memory database"); ``check`` says what to
    check when it cannot be reached; ``prepare`` runs on each new connection (and may raise MemoryStoreError)."""

    def __init__(
        self, url: str, *, what: str, check: str, purpose: str, connect_timeout_s: float = 10.0,
        prepare: Callable[[Any], None] | None = None,
    ) -> None:  # fmt: skip
        self.driver = import_driver(purpose)
        self.url = url
        self.where = redact_url(url)
        self.what = what
        self.check = check
        self.timeout_s = connect_timeout_s
        self.lock = threading.RLock()
        self._prepare = prepare
        self._conn: Any = None

    def connect(self) -> Any:
        """A new connection of the caller's own (for work that must not hold the shared one)."""
        return self.driver.connect(self.url, autocommit=True, connect_timeout=max(1, int(self.timeout_s)))

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A cursor inside one transaction, under the lock; the connection is (re)opened as needed."""
        psycopg = self.driver
        with self.lock:
            if self._conn is None or self._conn.closed or self._conn.broken:
                if self._conn is not None:
                    log.warning("%s: the connection to %s was lost; reconnecting", self.what, self.where)
                self._conn = None
                self._conn = self._open()
            try:
                with self._conn.transaction(), self._conn.cursor() as cur:
                    yield cur
            except MemoryStoreError:
                raise
            except psycopg.OperationalError as exc:
                raise MemoryStoreError(
                    f"the {self.what} {self.where} went away: {said(exc)} (nothing was written; the next call "
                    "reconnects)"
                ) from exc
            except psycopg.Error as exc:
                raise MemoryStoreError(f"the {self.what} {self.where} refused: {said(exc)}") from exc

    def _open(self) -> Any:
        try:
            conn = self.connect()
        except self.driver.OperationalError as exc:
            raise MemoryStoreError(
                f"cannot connect to the {self.what} {self.where}: {said(exc)} (check {self.check}; is the server "
                "running?)"
            ) from exc
        if self._prepare is not None:
            try:
                self._prepare(conn)
            except BaseException:
                conn.close()
                raise
        return conn

    def close(self) -> None:
        with self.lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
