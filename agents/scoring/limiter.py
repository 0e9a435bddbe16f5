"""The inference limiter: one gate, sized to the device, for every call into a model.

Live scoring and asks share the same models (and the same GPU): each model call runs in a worker thread
while holding the limiter, and nothing else does. Retrieval, disk and network work never hold it, so a
question being answered delays live scoring only by the model calls it makes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

__all__ = ["InferenceLimiter"]

P = ParamSpec("P")
T = TypeVar("T")


class InferenceLimiter:
    """At most ``concurrency`` model calls at a time, each in a worker thread."""

    def __init__(self, concurrency: int = 1) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self.calls = 0
        self.waiting = 0  # calls queued behind the ones running
        self.running = 0

    async def run(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``call(*args, **kwargs)`` in a thread, while holding the limiter."""
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        self.running += 1
        self.calls += 1
        try:
            return await asyncio.to_thread(call, *args, **kwargs)
        finally:
            self.running -= 1
            self._slots.release()
