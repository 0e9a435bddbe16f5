"""The scheduler: cuts buffered frames into windows, scores them, feeds the alert policies.

One scheduler serves every camera and shares one scorer between them. Scoring runs in a worker
thread behind a limiter so it never blocks the event loop or ingest. File cameras are scored frame
by frame in order (their buffers block rather than drop); live cameras are scored newest first when
the scorer falls behind, and the skipped frames and the lag are counted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from streamer.buffer import FrameBuffer
from streamer.frames import Frame, Window
from streamer.policies import OverflowPolicy

from ..config import AlertSettings
from ..scoring import InferenceLimiter, Query, Scorer, WindowScores
from .alert import Alert
from .context import ContextKeyframe, ContextSampler
from .policy import AlertPolicy

__all__ = ["CameraCounters", "Scheduler"]

log = logging.getLogger(__name__)

Event = Alert | ContextKeyframe
EventHandler = Callable[[Event], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class _Cut:
    """A window cut from one camera's buffer, waiting to be scored."""

    camera: str
    buf: FrameBuffer
    window: Window
    queries: list[Query]
    skipped: int


@dataclass(slots=True)
class CameraCounters:
    """What the scheduler did for one camera."""

    scored: int = 0
    skipped: int = 0
    windows: int = 0
    lag_s: float = 0.0
    max_lag_s: float = 0.0
    score_s: float = 0.0


class Scheduler:
    """Score every camera's new frames against the queries that apply to it."""

    def __init__(
        self,
        scorer: Scorer,
        buffers: dict[str, FrameBuffer],
        queries: list[Query],
        alert_settings: AlertSettings,
        on_alert: EventHandler,
        *,
        window: int = 16,
        stride: int = 8,
        max_lag_s: float = 10.0,
        limiter: InferenceLimiter | None = None,
        context: ContextSampler | None = None,
    ) -> None:
        self.scorer = scorer
        self.buffers = buffers
        self.alert_settings = alert_settings
        self.on_alert = on_alert
        # A backend that scores frames one by one needs no context frames and no waiting for a stride.
        self.windowed = scorer.windowed
        self.window = window if self.windowed else 64
        self.stride = stride if self.windowed else 1
        self.max_lag_s = max_lag_s
        self.counters = {cam: CameraCounters() for cam in buffers}
        self._queries: dict[str, Query] = {q.id: q for q in queries}
        self._policies: dict[tuple[str, str], AlertPolicy] = {}
        self.limiter = limiter or InferenceLimiter()
        self.context = context
        self._wake = asyncio.Event()
        self._stopping = False

    # -- standing queries ---------------------------------------------------------------------

    @property
    def queries(self) -> list[Query]:
        return list(self._queries.values())

    def add_query(self, query: Query) -> None:
        """Add or replace a standing query; takes effect with the next window."""
        old = self._queries.get(query.id)
        self._queries[query.id] = query
        if old is not None:
            for key in [k for k in self._policies if k[1] == query.id]:
                self._policies[key].query = query

    async def remove_query(self, query_id: str) -> bool:
        """Remove a standing query, ending its open alerts."""
        if self._queries.pop(query_id, None) is None:
            return False
        for key in [k for k in self._policies if k[1] == query_id]:
            policy = self._policies.pop(key)
            for alert in policy.flush(self.scorer.name, self.scorer.semantic):
                await self.on_alert(alert)
        return True

    # -- running ------------------------------------------------------------------------------

    def notify(self) -> None:
        """New frames were buffered (called by the ingest stage)."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the current window, end open alerts and return from :meth:`run`."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Score until every buffer is closed and consumed, or :meth:`stop` is called.

        Each round cuts a window from every camera that has enough new frames and scores them all
        in one call, so a backend that batches (the embedding model across cameras, GenS across
        queries) amortises its cost.
        """
        while not self._stopping:
            self._wake.clear()
            cuts = [cut for camera, buf in self.buffers.items() if (cut := self._cut(camera, buf)) is not None]
            if cuts:
                await self._process(cuts)
            if all(b.closed and b.unconsumed() == 0 for b in self.buffers.values()):
                break
            if not cuts:
                await self._wake.wait()
        for policy in self._policies.values():
            for alert in policy.flush(self.scorer.name, self.scorer.semantic):
                await self.on_alert(alert)

    def _cut(self, camera: str, buf: FrameBuffer) -> _Cut | None:
        """The next window of ``camera``, or None when it should wait for more frames."""
        pending = buf.unconsumed()
        if pending == 0 or (pending < self.stride and not buf.closed):
            return None
        new = buf.after(buf.consumed_seq, limit=self.stride if self.windowed else self.window)
        skipped = 0
        if buf.policy is OverflowPolicy.DROP_OLDEST and time.time() - new[0].wall > self.max_lag_s:
            # Behind on a live feed: score the newest frames, count the rest as skipped.
            newest = buf.latest(1)[0]
            skipped = newest.seq - new[-1].seq
            new = buf.latest(len(new))
        context = buf.before(new[0].seq, self.window - len(new)) if self.windowed else []
        window = Window(camera, tuple(context + new), new_from=len(context))
        queries = [q for q in self._queries.values() if q.applies_to(camera)]
        return _Cut(camera, buf, window, queries, skipped)

    async def _process(self, cuts: list[_Cut]) -> None:
        jobs = [(c.window, c.queries) for c in cuts if c.queries]
        results = iter(await self._score_many(jobs) if jobs else [])
        for cut in cuts:
            counters = self.counters[cut.camera]
            new = cut.window.new_frames
            if cut.queries:
                result = next(results)
                counters.score_s += result.latency_s
                await self._feed(cut.camera, cut.window, result, cut.queries)
            elif self.context is not None:  # nothing to score, but the scene is still worth remembering
                for frame in new:
                    if self.context.observe(frame):
                        await self.on_alert(ContextKeyframe(frame, None, self.scorer.name))
            counters.skipped += cut.skipped
            counters.scored += len(new)
            counters.windows += 1
            live = cut.buf.policy is OverflowPolicy.DROP_OLDEST
            counters.lag_s = max(0.0, time.time() - new[-1].wall) if live else 0.0
            counters.max_lag_s = max(counters.max_lag_s, counters.lag_s)
            await cut.buf.mark_consumed(new[-1].seq)

    async def _score_many(self, jobs: list[tuple[Window, list[Query]]]) -> list[WindowScores]:
        return await self.limiter.run(self.scorer.score_batch, jobs)

    async def _feed(self, camera: str, window: Window, result: WindowScores, queries: list[Query]) -> None:
        frames: tuple[Frame, ...] = window.frames
        embeddings = result.embeddings
        for query in queries:
            values = result.scores.get(query.id)
            if values is None:
                continue
            policy = self._policies.get((camera, query.id))
            if policy is None:
                policy = self._policies[(camera, query.id)] = AlertPolicy(camera, query, self.alert_settings)
            for i in range(window.new_from, len(frames)):
                embedding = embeddings[i] if embeddings is not None else None
                for alert in policy.feed(frames[i], float(values[i]), result.backend, result.semantic, embedding):
                    await self.on_alert(alert)
        if self.context is not None:
            for i in range(window.new_from, len(frames)):
                if self.context.observe(frames[i]):
                    embedding = embeddings[i] if embeddings is not None else None
                    await self.on_alert(ContextKeyframe(frames[i], embedding, result.backend))
