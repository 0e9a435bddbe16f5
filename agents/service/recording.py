"""Turning alerts and context keyframes into remembered moments (snapshots, keyframes, embeddings).

The memory is a dependency like the camera or the broker: its disk fills up, its database goes away. A write it
refuses never costs the alert (the event still goes out) and is not lost at once: it waits, in order, and is tried
again before the next write and every few seconds (:meth:`MomentRecorder.retry`), up to ``max_waiting`` writes;
past that the oldest are counted lost. While writes fail the memory is *degraded* (``on_outage`` is told what, since
when and why) and the log says so once a minute, not once a moment; the first write that goes through again ends it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from streamer.errors import MemoryStoreError

from ..alerting import Alert, AlertKind, ContextKeyframe, with_snapshot_path
from ..memory.backend import Memory
from ..memory.records import Keyframe, Moment

__all__ = ["MomentRecorder"]

log = logging.getLogger(__name__)

_LOG_EVERY_S = 60.0


@dataclass(slots=True)
class _Write:
    """One moment to store, with the snapshot it still needs saved (``snapshot`` set while it is not)."""

    moment: Moment
    keyframe: Keyframe
    name: str
    snapshot: bytes | None


class MomentRecorder:
    """Write what the pipeline decides to remember. Blocking (disk, database): call it from a worker thread."""

    def __init__(self, memory: Memory, *, max_waiting: int = 1000, clock: Callable[[], float] = time.monotonic) -> None:
        self.memory = memory
        self.moments = 0
        self.context = 0
        self.failed_writes = 0  # writes the memory refused (each retry of a waiting one counts again)
        self.lost = 0  # moments given up: more were waiting than max_waiting
        self.max_waiting = max_waiting
        self._waiting: deque[_Write] = deque()
        self._lock = threading.RLock()
        self._clock = clock
        self._since: float | None = None  # wall time the memory began refusing writes
        self._last_error = ""
        self._logged_at = -_LOG_EVERY_S
        self._refused_since_log = 0
        self._listeners: list[Callable[[str | None], None]] = []

    def on_outage(self, listener: Callable[[str | None], None]) -> None:
        """``listener(text)`` when writes begin to fail (and as they go on), ``listener(None)`` when they work again."""
        self._listeners.append(listener)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def alert(self, alert: Alert) -> Alert:
        """Save the alert's snapshot; when it ends, store its moment. Returns the alert with its snapshot path (None
        while the memory refuses it)."""
        with self._lock:
            self.retry()
            path = self._snapshot(alert.id, alert.snapshot)
            alert = with_snapshot_path(alert, path)
            if alert.kind is AlertKind.END:
                moment = Moment(
                    id=alert.id, camera=alert.camera, start_wall=alert.start_wall, end_wall=alert.end_wall,
                    start_pts=alert.start_pts, end_pts=alert.end_pts, backend=alert.backend, semantic=alert.semantic,
                    peak=alert.peak_score, queries={alert.query_id: alert.peak_score},
                    query_texts={alert.query_id: alert.query_text}, thumbnail=path, clip=alert.clip_path,
                    clip_info=alert.clip_info,
                )  # fmt: skip
                keyframe = Keyframe(alert.peak_wall, alert.peak_pts, path, alert.peak_embedding)
                self._store(_Write(moment, keyframe, alert.id, alert.snapshot if path is None else None))
            return alert

    def context_keyframe(self, event: ContextKeyframe) -> None:
        """Store a context keyframe as a one-frame moment of kind ``context``."""
        frame = event.frame
        moment_id = f"ctx-{frame.camera}-{int(frame.wall * 1000)}"
        with self._lock:
            self.retry()
            path = self._snapshot(moment_id, frame.snapshot)
            moment = Moment(
                id=moment_id, camera=frame.camera, start_wall=frame.wall, end_wall=frame.wall, start_pts=frame.pts,
                end_pts=frame.pts, backend=event.backend, semantic=event.embedding is not None, peak=0.0,
                thumbnail=path, kind="context",
            )  # fmt: skip
            keyframe = Keyframe(frame.wall, frame.pts, path, event.embedding)
            self._store(_Write(moment, keyframe, moment_id, frame.snapshot if path is None else None))

    def retry(self) -> bool:
        """Write what is waiting, oldest first, until the memory refuses again. True when nothing waits any more."""
        with self._lock:
            while self._waiting:
                try:
                    self._write(self._waiting[0])
                except MemoryStoreError as exc:
                    self._refused(exc)
                    return False
                self._waiting.popleft()
            self._recovered()
            return True

    # -- internals ---------------------------------------------------------------------------------

    def _snapshot(self, name: str, jpeg: bytes | None) -> str | None:
        if jpeg is None:
            return None
        try:
            return self.memory.save_snapshot(name, jpeg)
        except MemoryStoreError as exc:
            self._refused(exc)
            return None

    def _store(self, write: _Write) -> None:
        if self._waiting:  # keep the order: this one goes after those still waiting
            self._wait(write)
            return
        try:
            self._write(write)
        except MemoryStoreError as exc:
            self._refused(exc)
            self._wait(write)
            return
        self._recovered()

    def _write(self, write: _Write) -> None:
        if write.snapshot is not None:
            path = self.memory.save_snapshot(write.name, write.snapshot)
            write.moment = replace(write.moment, thumbnail=path)
            write.keyframe = replace(write.keyframe, thumbnail=path)
            write.snapshot = None
        self.memory.add(write.moment, [write.keyframe])
        if write.moment.kind == "context":
            self.context += 1
        else:
            self.moments += 1

    def _wait(self, write: _Write) -> None:
        self._waiting.append(write)
        while len(self._waiting) > self.max_waiting:
            gone = self._waiting.popleft()
            self.lost += 1
            log.debug("memory: moment %s lost: more than %d writes were waiting", gone.moment.id, self.max_waiting)

    def _refused(self, exc: MemoryStoreError) -> None:
        self.failed_writes += 1
        self._refused_since_log += 1
        self._last_error = str(exc)
        began = self._since is None
        if began:
            self._since = time.time()
        now = self._clock()
        if began or now - self._logged_at >= _LOG_EVERY_S:
            log.error(
                "memory: %d write(s) refused since the last report, %d moment(s) waiting, %d lost in all: %s",
                self._refused_since_log, len(self._waiting), self.lost, exc,
            )  # fmt: skip
            self._logged_at, self._refused_since_log = now, 0
            self._tell(self._describe())

    def _recovered(self) -> None:
        if self._since is None:
            return
        self._since = None
        log.warning("memory: writes go through again (%d moment(s) lost in all)", self.lost)
        self._tell(None)

    def _describe(self) -> str:
        assert self._since is not None
        when = datetime.fromtimestamp(self._since, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return (
            f"the memory refuses writes since {when} ({self._last_error}); alerts still go out; "
            f"{len(self._waiting)} moment(s) waiting to be stored, {self.lost} lost"
        )

    def _tell(self, text: str | None) -> None:
        for listener in self._listeners:
            try:
                listener(text)
            except Exception:  # one listener's bug must not keep the news from the others
                log.exception("memory outage: a listener failed")
