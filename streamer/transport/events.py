"""A fan-out hub for server-sent events: every subscriber gets every event; a slow one loses its oldest."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EventHub"]


@dataclass(slots=True, eq=False)
class _Subscriber:
    queue: deque[tuple[str, str]]
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: int = 0


class EventHub:
    """Fan events out to live subscribers (SSE clients). A slow subscriber loses its oldest events, counted."""

    def __init__(self, per_subscriber: int = 256) -> None:
        self.per_subscriber = per_subscriber
        self._subscribers: set[_Subscriber] = set()
        self.published = 0
        self.closed = False

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def publish(self, event: str, data: dict[str, Any]) -> None:
        """Send ``data`` (JSON) as an ``event`` to every subscriber. Call on the loop."""
        text = json.dumps(data)
        self.published += 1
        for sub in self._subscribers:
            if len(sub.queue) == self.per_subscriber:
                sub.queue.popleft()
                sub.dropped += 1
            sub.queue.append((event, text))
            sub.wake.set()

    def close(self) -> None:
        """End every subscription."""
        self.closed = True
        for sub in self._subscribers:
            sub.wake.set()

    async def stream(self, heartbeat_s: float = 15.0) -> AsyncIterator[str]:
        """One subscriber's events as SSE text, with a comment line as heartbeat when idle."""
        sub = _Subscriber(deque())
        self._subscribers.add(sub)
        try:
            yield ": connected\n\n"
            while not self.closed:
                if not sub.queue:
                    sub.wake.clear()
                    try:
                        await asyncio.wait_for(sub.wake.wait(), heartbeat_s)
                    except TimeoutError:
                        yield ": heartbeat\n\n"
                        continue
                while sub.queue:
                    event, text = sub.queue.popleft()
                    yield f"event: {event}\ndata: {text}\n\n"
        finally:
            self._subscribers.discard(sub)
