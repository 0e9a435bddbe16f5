"""The output stage: what the scheduler decides becomes memory and events, in order.

Each alert event is recorded (its snapshot saved; when it ends, its moment stored) in a worker thread,
entered in the open alerts, and handed to every listener (the APIs, the CLI's printer) with its JSON
payload computed once. Context keyframes are only recorded. A memory that refuses a write costs the
moment, never the alert: the event still goes out, and the log says what failed.
"""

from __future__ import annotations

import asyncio
import logging

from streamer.errors import MemoryStoreError

from ..alerting import Alert, AlertKind, ContextKeyframe
from .port import AlertEvent, AlertListener
from .recording import MomentRecorder

__all__ = ["OpenAlerts", "OutputStage"]

log = logging.getLogger(__name__)

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

    def __init__(self, recorder: MomentRecorder, listeners: list[AlertListener], *, queue_size: int = 1024) -> None:
        self.recorder = recorder
        self.listeners = listeners
        self.open = OpenAlerts()
        self.listener_failures = 0
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=queue_size)

    async def put(self, event: Event | None) -> None:
        await self._queue.put(event)

    async def run(self) -> None:
        while (event := await self._queue.get()) is not None:
            if isinstance(event, ContextKeyframe):
                try:
                    await asyncio.to_thread(self.recorder.context_keyframe, event)
                except MemoryStoreError as exc:
                    log.error("memory: context keyframe of %s not stored: %s", event.frame.camera, exc)
                continue
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


def _name(listener: object) -> str:
    """A listener as a log line names it (``MqttAlertTopics.alert``, ``HttpApi.start.<locals>.alert``)."""
    return str(getattr(listener, "__qualname__", None) or type(listener).__qualname__)
