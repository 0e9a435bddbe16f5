"""Stages under supervision: none dies silently.

:func:`supervise` runs one long-lived stage. An exception of feedwatch's own (a camera that cannot be opened, say)
is the caller's to handle and passes through. Any other exception is a bug: it is logged with the stage's name and
traceback, counted, and the stage restarts after a capped backoff, at most ``max_restarts`` times within
``window_s``. A stage that may not restart, or that used up its restarts, marks the service unhealthy; then, when
``fatal``, the error ends the run (``watch``, ``eval``), else the stage stays down until the service stops
(``run`` keeps serving its APIs and says it is unhealthy).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from streamer.errors import FeedwatchError
from streamer.policies import Backoff

from .health import Health

__all__ = ["RestartPolicy", "StageFailed", "supervise"]

log = logging.getLogger(__name__)


class StageFailed(FeedwatchError, RuntimeError):
    """A stage of the service failed and could not be restarted."""


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """How a failed stage comes back: whether at all, how often within a window, and how soon."""

    restart: bool = True
    max_restarts: int = 5
    window_s: float = 600.0
    base_s: float = 0.5
    cap_s: float = 30.0


async def supervise(
    stage: str,
    run: Callable[[], Awaitable[None]],
    health: Health,
    *,
    policy: RestartPolicy = RestartPolicy(),
    fatal: bool,
    stopping: asyncio.Event,
) -> None:
    """Run ``run()`` as the stage ``stage`` until it returns, restarting it on bugs as ``policy`` allows."""
    backoff = Backoff(base_s=policy.base_s, cap_s=policy.cap_s)
    failures: deque[float] = deque()
    while True:
        started = time.monotonic()
        try:
            await run()
            return
        except FeedwatchError:
            raise
        except Exception as exc:
            now = time.monotonic()
            if now - started > policy.cap_s:
                backoff.reset()  # it ran well for a while: the next failure is a new story
            failures.append(now)
            while failures and now - failures[0] > policy.window_s:
                failures.popleft()
            if policy.restart and len(failures) <= policy.max_restarts:
                delay = 0.0 if stopping.is_set() else backoff.next_delay()
                log.exception(
                    "stage %s failed (%d time(s) in %.0f s); restarting it in %.1f s", stage, len(failures),
                    policy.window_s, delay,
                )  # fmt: skip
                health.restarted(stage)
                # A stop cuts the wait short: the stage still comes back, to drain what it holds and end.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), delay)
                continue
            why = "may not be restarted" if not policy.restart else f"failed {len(failures)} times"
            log.exception("stage %s failed and %s; it stays down", stage, why)
            health.problem(stage, f"the {stage} stage stopped: {type(exc).__name__}: {exc} ({why})")
            if fatal:
                raise StageFailed(f"the {stage} stage failed: {type(exc).__name__}: {exc}") from exc
            await stopping.wait()
            return
