"""The scoring model behind a circuit breaker: a model that fails never stops the watching.

Every scoring call goes through :class:`ScoringGuard`. A model fault (a server down, overloaded or slow, an answer
of the wrong shape, a GPU out of memory) is counted by kind and opens the breaker (:mod:`.breaker`); the windows
it could not score come back as None (unscored: the alert policies hear nothing, so an open alert is not ended by
the outage) or, with a fallback scorer, scored by it (the model-free activity scorer, ``semantic: false``). The
guard says at once when an outage begins and ends (``on_outage``), and probes the model until it answers again.
An exception that is not a model fault is a bug of ours and passes through to the stage's supervisor.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from streamer.errors import ModelError

from ..models import FaultKind, ModelFault
from .base import ScoreJob, Scorer, WindowScores
from .breaker import Breaker
from .limiter import InferenceLimiter

__all__ = ["ScoringGuard", "as_fault"]

log = logging.getLogger(__name__)

OutageListener = Callable[[str | None], None]  # the outage's description, or None when it is over


def as_fault(exc: BaseException, backend: str) -> ModelFault | None:
    """``exc`` from a scorer as a model fault, or None when it is not one (a bug of ours)."""
    if isinstance(exc, ModelFault):
        return exc
    if isinstance(exc, ModelError):
        return ModelFault(FaultKind.UNAVAILABLE, str(exc))
    if type(exc).__name__ == "OutOfMemoryError":  # torch's, raised by a local model on its device
        return ModelFault(FaultKind.OUT_OF_MEMORY, f"scorer {backend}: {str(exc).splitlines()[0][:300]}")
    return None


class ScoringGuard:
    """Score jobs with ``scorer`` behind ``limiter`` and a breaker; ``fallback`` scores what the model could not."""

    def __init__(
        self,
        scorer: Scorer,
        limiter: InferenceLimiter,
        *,
        fallback: Scorer | None = None,
        breaker: Breaker | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.scorer = scorer
        self.limiter = limiter
        self.fallback = fallback
        self.breaker = breaker or Breaker()
        self._clock = clock
        self.faults: Counter[str] = Counter({kind.value: 0 for kind in FaultKind})
        self.unscored_windows = 0
        self.fallback_windows = 0
        self.outage_started_wall: float | None = None
        self._listeners: list[OutageListener] = []

    def on_outage(self, listener: OutageListener) -> None:
        self._listeners.append(listener)

    @property
    def down(self) -> bool:
        return self.breaker.since is not None

    def outage_s(self) -> float:
        """How long the model has been away (0 while it answers)."""
        since = self.breaker.since
        return 0.0 if since is None else self._clock() - since

    def describe(self) -> str | None:
        """The outage in words (what is down, since when, why), or None."""
        fault, since = self.breaker.last_fault, self.outage_started_wall
        if fault is None or since is None:
            return None
        when = datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        instead = f"; the {self.fallback.name} scorer (not semantic) watches meanwhile" if self.fallback else ""
        return f"scorer {self.scorer.name} is unavailable since {when} ({fault.kind.value}: {fault}){instead}"

    async def score(self, jobs: Sequence[ScoreJob]) -> list[WindowScores | None]:
        """One result per job: its scores, or None when neither the model nor a fallback could score it."""
        if not jobs:
            return []
        if not self.breaker.allow(self._clock()):
            return await self._instead(jobs, [None] * len(jobs))
        try:
            results = await self.limiter.run(self.scorer.score_jobs, jobs)
        except Exception as exc:
            fault = as_fault(exc, self.scorer.name)
            if fault is None:
                raise
            results = [fault] * len(jobs)
        faults = [r for r in results if isinstance(r, ModelFault)]
        for fault in {id(f): f for f in faults}.values():  # jobs that shared one failed call count it once
            self.faults[fault.kind.value] += 1
        if faults and len(faults) == len(results):
            self._failed(faults[0])
        else:
            if faults:  # the model answers, but not every request went well: each one is logged
                log.warning(
                    "scorer %s: %d of %d jobs failed: %s", self.scorer.name, len(faults), len(results), faults[0]
                )
            if self.breaker.succeeded():
                self._changed(None)
        scored = [None if isinstance(r, ModelFault) else r for r in results]
        return await self._instead(jobs, scored)

    def _failed(self, fault: ModelFault) -> None:
        if self.breaker.failed(fault, self._clock()):
            self.outage_started_wall = time.time()
            self._changed(self.describe())
        else:
            log.debug("scorer %s still unavailable: %s", self.scorer.name, fault)

    def _changed(self, text: str | None) -> None:
        if text is None:
            log.warning("scorer %s answers again; scoring resumes", self.scorer.name)
            self.outage_started_wall = None
        else:
            log.error("%s", text)
        for listener in self._listeners:
            try:
                listener(text)
            except Exception:  # one listener's bug must not keep the news from the others
                log.exception("scorer outage: a listener failed")

    async def _instead(self, jobs: Sequence[ScoreJob], scored: list[WindowScores | None]) -> list[WindowScores | None]:
        """Fill the jobs the model did not score with the fallback's scores, or count them as unscored."""
        missing = [i for i, r in enumerate(scored) if r is None]
        if not missing:
            return scored
        if self.fallback is None:
            self.unscored_windows += len(missing)
            return scored
        instead = await asyncio.to_thread(self.fallback.score_batch, [jobs[i] for i in missing])
        for i, result in zip(missing, instead, strict=True):
            scored[i] = result
        self.fallback_windows += len(missing)
        return scored
