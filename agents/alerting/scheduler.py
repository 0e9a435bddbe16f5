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
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np

from streamer.buffer import FrameBuffer
from streamer.frames import Frame, Window
from streamer.policies import OverflowPolicy
from streamer.regions import Polygon

from ..config import AlertSettings
from ..scoring import InferenceLimiter, Query, Scorer, ScoringGuard, WindowScores
from .alert import Alert
from .arming import Watching
from .context import ContextKeyframe, ContextSampler
from .policy import AlertPolicy
from .zones import ZoneCrops

__all__ = ["CameraCounters", "ModelFramesListener", "Scheduler"]

log = logging.getLogger(__name__)

Event = Alert | ContextKeyframe
EventHandler = Callable[[Event], Awaitable[None]]
# Told, for a camera's newly scored frames, which of them a model ran on (True) and which the change gate held.
ModelFramesListener = Callable[[str, tuple[Frame, ...], list[bool]], None]


@dataclass(frozen=True, slots=True)
class _Job:
    """One scoring job of a cut: the whole frame (``zone`` None) or one zone's crop, for the queries that look there."""

    window: Window
    queries: list[Query]
    zone: str | None = None


@dataclass(frozen=True, slots=True)
class _Cut:
    """A window cut from one camera's buffer, waiting to be scored."""

    camera: str
    buf: FrameBuffer
    window: Window
    queries: list[Query]
    skipped: int
    jobs: list[_Job]


@dataclass(slots=True)
class CameraCounters:
    """What the scheduler did for one camera."""

    scored: int = 0
    skipped: int = 0
    windows: int = 0
    lag_s: float = 0.0
    max_lag_s: float = 0.0
    # The recent decision lags (a frame's arrival to its scores), for percentiles: an alert's latency is one of
    # these plus the alert policy's confirmation.
    lags: deque[float] = field(default_factory=lambda: deque(maxlen=1024))
    score_s: float = 0.0
    unscored: int = 0  # new frames no scorer could score (the model away, no fallback)
    model_frames: int = 0  # new frames (of the whole frame or a zone) the model scored
    held_frames: int = 0  # new frames the change gate held back from the model


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
        zones: dict[str, dict[str, Polygon]] | None = None,
        watching: Watching | None = None,
        guard: ScoringGuard | None = None,
        outage_end_s: float = 120.0,
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
        # The model behind its breaker: a fault leaves windows unscored (or to a fallback), never ends the stage.
        self.guard = guard or ScoringGuard(scorer, self.limiter)
        self.outage_end_s = outage_end_s  # open alerts end (reason scorer_unavailable) after an outage this long
        self.context = context
        self.zones = zones or {}  # camera -> zone name -> polygon
        self.watching = watching or Watching()
        self.query_frames: dict[str, int] = {}  # frames scored for each query (a disarmed query's stays still)
        self.on_model_frames: ModelFramesListener | None = None
        self._crops = ZoneCrops(scorer.input_size)
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

    async def end_alerts(self, query_id: str, camera: str | None = None) -> None:
        """End the open alerts of ``query_id`` (on ``camera``, or on all) now: it was disarmed."""
        await self._end([p for k, p in self._policies.items() if k[1] == query_id and camera in (None, k[0])])

    def add_camera(self, camera: str, buf: FrameBuffer, zones: dict[str, Polygon]) -> None:
        """Score ``camera`` too, from the next round (a camera added by a reload)."""
        self.buffers[camera] = buf
        self.zones[camera] = zones
        self.counters.setdefault(camera, CameraCounters())
        self._crops.forget(camera)
        self._wake.set()

    async def remove_camera(self, camera: str) -> None:
        """Stop scoring ``camera`` and end its open alerts (a camera removed or changed by a reload)."""
        self.buffers.pop(camera, None)
        self.zones.pop(camera, None)
        self._crops.forget(camera)
        await self._end([self._policies.pop(k) for k in [k for k in self._policies if k[0] == camera]])

    async def remove_query(self, query_id: str) -> bool:
        """Remove a standing query, ending its open alerts."""
        if self._queries.pop(query_id, None) is None:
            return False
        await self._end([self._policies.pop(k) for k in [k for k in self._policies if k[1] == query_id]])
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
            cuts = [cut for camera, buf in list(self.buffers.items()) if (cut := self._cut(camera, buf)) is not None]
            if cuts:
                await self._process(cuts)
            if self.buffers and all(b.closed and b.unconsumed() == 0 for b in self.buffers.values()):
                break
            if not cuts:
                await self._wake.wait()
        await self._end(list(self._policies.values()))

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
        queries = [
            q for q in self._queries.values()
            if q.applies_to(camera) and self.watching.watched(q.armed_on(camera), q.active, new[-1].wall)
        ]  # fmt: skip
        return _Cut(camera, buf, window, queries, skipped, self._jobs(camera, window, queries))

    def _jobs(self, camera: str, window: Window, queries: list[Query]) -> list[_Job]:
        """The whole frame for queries without zones, and each zone's crop for the queries that look at it."""
        jobs = []
        whole = [q for q in queries if not q.zones]
        if whole:
            jobs.append(_Job(window, whole))
        zones = self.zones.get(camera, {})
        for zone in dict.fromkeys(z for q in queries for z in q.zones):
            if zone in zones:
                cropped = self._crops.window(window, zone, zones[zone])
                jobs.append(_Job(cropped, [q for q in queries if zone in q.zones], zone))
        return jobs

    async def _process(self, cuts: list[_Cut]) -> None:
        jobs = [(job.window, job.queries) for c in cuts for job in c.jobs]
        results = iter(await self._score_many(jobs) if jobs else [])
        for cut in cuts:
            if self.buffers.get(cut.camera) is not cut.buf:
                continue  # the camera was removed (or restarted) by a reload while it was scored
            counters = self.counters[cut.camera]
            new = cut.window.new_frames
            await self._end_unwatched(cut)
            scored = [(job, result) for job in cut.jobs if (result := next(results)) is not None]
            if cut.jobs and not scored:  # the model is away: nothing heard, so open alerts stay open for a while
                counters.unscored += len(new)
                if self.guard.outage_s() >= self.outage_end_s:
                    await self._end(
                        [p for (camera, _), p in self._policies.items() if camera == cut.camera], "scorer_unavailable"
                    )
            elif cut.jobs:
                counters.score_s += sum(result.latency_s for _, result in scored)
                sent = sum(result.model_frames for _, result in scored)
                counters.model_frames += sent
                counters.held_frames += len(new) * len(scored) - sent
                if self.on_model_frames is not None:
                    self.on_model_frames(cut.camera, new, _sent_frames(cut.window, [r for _, r in scored]))
                for query in cut.queries:
                    self.query_frames[query.id] = self.query_frames.get(query.id, 0) + len(new)
                await self._feed(cut.camera, cut.window, scored, cut.queries)
            elif self.context is not None:  # nothing to score, but the scene is still worth remembering
                for frame in new:
                    if self.context.observe(frame):
                        await self.on_alert(ContextKeyframe(frame, None, self.scorer.name))
            counters.skipped += cut.skipped
            if scored or not cut.jobs:
                counters.scored += len(new)
            counters.windows += 1
            live = cut.buf.policy is OverflowPolicy.DROP_OLDEST
            counters.lag_s = max(0.0, time.time() - new[-1].wall) if live else 0.0
            counters.max_lag_s = max(counters.max_lag_s, counters.lag_s)
            if live:
                counters.lags.append(counters.lag_s)
            await cut.buf.mark_consumed(new[-1].seq)

    async def _score_many(self, jobs: list[tuple[Window, list[Query]]]) -> list[WindowScores | None]:
        return await self.guard.score(jobs)

    async def _end_unwatched(self, cut: _Cut) -> None:
        """End the open alerts of queries this camera no longer watches (disarmed, or outside their hours)."""
        watched = {q.id for q in cut.queries}
        await self._end([p for (camera, q), p in self._policies.items() if camera == cut.camera and q not in watched])

    async def _end(self, policies: list[AlertPolicy], reason: str | None = None) -> None:
        """End the open alerts of ``policies`` now, sending their ``end`` events."""
        for policy in policies:
            for alert in policy.flush(self.scorer.name, self.scorer.semantic, reason):
                await self.on_alert(alert)

    async def _feed(
        self, camera: str, window: Window, scored: list[tuple[_Job, WindowScores]], queries: list[Query]
    ) -> None:
        frames: tuple[Frame, ...] = window.frames
        first = scored[0][1]
        # The whole frame's embeddings describe the scene (for context keyframes); else the first zone's.
        embeddings = next((r.embeddings for job, r in scored if job.zone is None), first.embeddings)
        for query in queries:
            # A query with zones takes, frame by frame, its best zone's score (and embedding), and names that zone.
            found = [(job.zone, r) for job, r in scored if query.id in r.scores]
            if not found:
                continue
            values = np.stack([r.scores[query.id] for _, r in found])
            best = values.argmax(axis=0)
            policy = self._policies.get((camera, query.id))
            if policy is None:
                policy = self._policies[(camera, query.id)] = AlertPolicy(camera, query, self.alert_settings)
            for i in range(window.new_from, len(frames)):
                zone, result = found[int(best[i])]
                embedding = result.embeddings[i] if result.embeddings is not None else None
                score = float(values[best[i], i])
                for alert in policy.feed(frames[i], score, first.backend, first.semantic, embedding, zone=zone):
                    await self.on_alert(alert)
        if self.context is not None:
            for i in range(window.new_from, len(frames)):
                if self.context.observe(frames[i]):
                    embedding = embeddings[i] if embeddings is not None else None
                    await self.on_alert(ContextKeyframe(frames[i], embedding, first.backend))


def _sent_frames(window: Window, results: list[WindowScores]) -> list[bool]:
    """For each new frame of ``window``: did a model run on it (in any of the jobs: the whole frame, a zone)?"""
    out = [False] * (len(window.frames) - window.new_from)
    for result in results:
        for i in range(len(out)):
            out[i] = out[i] or result.sent is None or bool(result.sent[window.new_from + i])
    return out
