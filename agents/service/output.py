"""The output stage: what the scheduler decides becomes memory and events, in order.

Each alert event is recorded (its snapshot saved; when it ends, its moment stored) in a worker thread,
entered in the open alerts, and handed to every listener (the APIs, the CLI's printer) with its JSON
payload computed once. Context keyframes are only recorded. A memory that refuses a write never costs the alert:
the event still goes out, and the moment waits to be stored (see :class:`~agents.service.recording.MomentRecorder`).

An ``end`` event waits for its clip (the seconds after the end must first arrive): it goes out, and its moment is
stored, once the clip is written or has failed. Nothing else waits for it: every ``new`` and ``update`` goes out at
once, a next alert of the same camera and query included (its ``new`` would otherwise wait up to ``clips.post_s``
behind the last one's ``end``). So each alert's own events stay in order (``new``, ``update``s, ``end``), and the
ends of one camera and query go out in the order the alerts ended; a query's state follows the alerts that are open,
not the order of their events (see :class:`~agents.api.mqtt_topics.MqttAlertTopics`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging

from streamer.errors import MemoryStoreError

from ..alerting import Alert, AlertKind, ContextKeyframe
from .clips import Clipper
from .port import AlertEvent, AlertListener
from .recording import MomentRecorder

__all__ = ["OpenAlerts", "OutputStage"]

log = logging.getLogger(__name__)

_RETRY_S = 5.0  # how often moments the memory refused are tried again

Event = Alert | ContextKeyframe


class OpenAlerts:
    """Alerts open now, and how many have opened per camera."""

    def __init__(self) -> None:
        self.by_id: dict[str, Alert] = {}
        self.opened: dict[str, int] = {}

    def update(self, alert: Alert) -> None:
        if alert.kind is AlertKind.END:
            self.by_id.pop(alert.id, None)
            return
        self.by_id[alert.id] = alert
        if alert.kind is AlertKind.NEW:
            self.opened[alert.camera] = self.opened.get(alert.camera, 0) + 1

    @property
    def total_opened(self) -> int:
        return sum(self.opened.values())

    def count(self, camera: str) -> int:
        return sum(a.camera == camera for a in self.by_id.values())


class OutputStage:
    """Record and fan out the scheduler's events; :meth:`put` is the scheduler's hand-off, ``None`` ends it."""

    def __init__(
        self,
        recorder: MomentRecorder,
        listeners: list[AlertListener],
        *,
        clipper: Clipper | None = None,
        queue_size: int = 1024,
    ) -> None:
        self.recorder = recorder
        self.clipper = clipper
        self.listeners = listeners
        self.open = OpenAlerts()
        self.listener_failures = 0
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=queue_size)

    async def put(self, event: Event | None) -> None:
        await self._queue.put(event)

    async def run(self) -> None:
        waiting: dict[tuple[str, str], asyncio.Task[None]] = {}  # per camera and query: the end that goes last
        retrying = asyncio.create_task(self._retry_memory(), name="memory-retry")
        try:
            await self._events(waiting)
        finally:
            retrying.cancel()
        if waiting:
            await asyncio.gather(*waiting.values())
        await asyncio.to_thread(self.recorder.retry)  # a last try for moments that waited

    async def _retry_memory(self) -> None:
        """Moments the memory refused are tried again every few seconds, not only when the next one comes."""
        while True:
            await asyncio.sleep(_RETRY_S)
            if self.recorder.waiting:
                await asyncio.to_thread(self.recorder.retry)

    async def _events(self, waiting: dict[tuple[str, str], asyncio.Task[None]]) -> None:
        while (event := await self._queue.get()) is not None:
            if isinstance(event, ContextKeyframe):
                try:
                    await asyncio.to_thread(self.recorder.context_keyframe, event)
                except MemoryStoreError as exc:
                    log.error("memory: context keyframe of %s not stored: %s", event.frame.camera, exc)
                continue
            if event.kind is not AlertKind.END:
                await self._emit(event)  # never behind an earlier alert's end that waits for its clip
                continue
            key = (event.camera, event.query_id)
            before = waiting.get(key)
            clipped = self.clipper is not None and self.clipper.wants(event)
            if before is None and not clipped:
                await self._emit(event)
                continue
            task = asyncio.create_task(self._after(event, before, clipped), name=f"alert-{event.id}")
            waiting[key] = task
            task.add_done_callback(functools.partial(_forget, waiting, key))

    async def _after(self, event: Alert, before: asyncio.Task[None] | None, clipped: bool) -> None:
        """Emit the end ``event`` once the end before it (same camera and query) is out, and its clip written."""
        try:
            if before is not None:
                await asyncio.shield(before)
            if clipped:
                assert self.clipper is not None
                info = await self.clipper.clip(event)
                if info is not None:
                    event = dataclasses.replace(event, clip_path=info.path, clip_info=info.to_dict())
            await self._emit(event)
        except Exception:  # a bug here must not take the stage down with it
            log.exception("alert %s (%s) of %s: not published", event.id, event.kind.value, event.camera)

    async def _emit(self, event: Alert) -> None:
        """Record ``event``, enter it in the open alerts and hand it to every listener."""
        try:
            alert = await asyncio.to_thread(self.recorder.alert, event)
        except MemoryStoreError as exc:
            log.error("memory: alert %s of %s not stored: %s", event.id, event.camera, exc)
            alert = event  # still goes out, without its snapshot path
        self.open.update(alert)
        published = AlertEvent.of(alert)
        for listener in self.listeners:
            try:
                await listener(published)
            except Exception:  # one listener's bug must not keep the event from the others
                self.listener_failures += 1
                log.exception("alert %s (%s): listener %s failed", alert.id, alert.kind.value, _name(listener))


def _forget(waiting: dict[tuple[str, str], asyncio.Task[None]], key: tuple[str, str], done: asyncio.Task[None]) -> None:
    if waiting.get(key) is done:
        del waiting[key]


def _name(listener: object) -> str:
    """A listener as a log line names it (``MqttAlertTopics.alert``, ``HttpApi.start.<locals>.alert``)."""
    return str(getattr(listener, "__qualname__", None) or type(listener).__qualname__)
