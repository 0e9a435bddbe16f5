"""The service's lifecycle: open everything in order, run the stages, close in reverse within a deadline.

Cameras -> buffers -> scheduler -> alert policy -> output stage -> memory and listeners. Every resource is
entered on one exit stack and the stages run in one TaskGroup. Startup: scorer, memory, standing queries,
scheduler, asker, then the extensions (the APIs), then the cameras. Shutdown is the reverse: the readers
stop, the scheduler ends open alerts, the output stage drains, the extensions stop, the memory closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from streamer.clips import ClipError, ClipInfo, write_clip
from streamer.errors import FeedwatchError
from streamer.frames import Frame
from streamer.reader import CameraStatus, Outage
from streamer.source import probe

from ..alerting import Alert, ContextSampler, Scheduler
from ..alerting.arming import Watching
from ..alerting.feedback import FeedbackGate
from ..alerting.scheduler import ModelFramesListener
from ..config import CameraConfig, FeedwatchConfig
from ..memory.asked import AskedFrames
from ..memory.backend import Memory, open_memory
from ..memory.records import Feedback
from ..memory.retention import prune
from ..qa.answer import Answer
from ..qa.answering import create_videoqa
from ..qa.asker import Asker
from ..qa.retrieval import spread
from ..qa.selection import selection_for
from ..scoring import (
    GatedScorer,
    InferenceLimiter,
    Query,
    Scorer,
    ScoringGuard,
    create_fallback,
    create_scorer,
    resolve_backend,
)
from .cameras import Camera, source_options
from .changes import LiveChanges
from .clips import Clipper
from .health import Health
from .hooks import OfflineHooks
from .lineup import CameraLineup
from .marks import Marks
from .output import OutputStage
from .port import AlertListener, Extension, FleetPort, OutageListener, QueriesListener, StatusListener
from .queries import QueryStore, StandingQueries
from .recording import MomentRecorder
from .regions import RegionStore
from .reload import ReloadPlan
from .report import CameraReport, ServiceReport
from .running import Running
from .supervisor import RestartPolicy, supervise

__all__ = ["Service"]

log = logging.getLogger(__name__)

_PRUNE_EVERY_S = 600.0
_SHUTDOWN_S = 8.0


class Service:
    """Run the configured cameras and queries until stopped (or, for files, until they end).

    Implements :class:`~agents.service.port.ServicePort` for the ``extensions`` (the APIs). ``on_alert`` is
    one more alert listener (the CLI's printer, an evaluation); ``scorer`` replaces the configured one.
    """

    def __init__(
        self,
        config: FeedwatchConfig,
        *,
        retry: bool,
        on_alert: AlertListener | None = None,
        scorer: Scorer | None = None,
        extensions: Sequence[Extension] = (),
        reload_from: Callable[[], FeedwatchConfig] | None = None,
        fleet: FleetPort | None = None,
    ) -> None:
        self._config = config
        self._fleet = fleet  # the fleet's other nodes: for questions and the page about the cameras they hold
        self.retry = retry
        self._scorer = scorer
        self.extensions = list(extensions)
        self.backend = scorer.name if scorer is not None else ""
        self.backend_reason = "given by the caller" if scorer is not None else ""
        self._lineup = CameraLineup(self._new_camera, self._ingest, self._status)
        self.cameras = self._lineup.cameras  # by id: the lineup starts and stops them
        self._marks = Marks()  # users' marks on alerts, with the recent alerts' peak embeddings
        self._alert_listeners: list[AlertListener] = [self._marks.keep_embedding]
        if on_alert is not None:
            self._alert_listeners.append(on_alert)
        self._status_listeners: list[StatusListener] = []
        self._outage_listeners: list[OutageListener] = []
        self._query_listeners: list[QueriesListener] = []
        self._model_frame_listeners: list[ModelFramesListener] = []
        self._limiter = InferenceLimiter()
        self._asks = 0
        self._run: Running | None = None
        self._stop = asyncio.Event()
        self.health = Health()
        self.restart_policy = RestartPolicy()
        self._changes = LiveChanges(
            reload_from, RegionStore(config.memory.path / "regions.json"), self._lineup, lambda: self._config,
            self._set_config, lambda: self._run, self._queries_changed,
        )  # fmt: skip
        self._analysis_size = 224
        self._burst_fps = 0.0  # sampling rate of a camera while the gate sees motion (0: no bursts)

    def stop(self) -> None:
        """Ask the service to shut down (safe from a signal handler on the loop)."""
        self._stop.set()

    def _set_config(self, config: FeedwatchConfig) -> None:
        self._config = config

    # -- the port -------------------------------------------------------------------------------

    @property
    def config(self) -> FeedwatchConfig:
        return self._config

    def _live(self) -> Running:
        if self._run is None:
            raise RuntimeError("the service is not running")
        return self._run

    @property
    def memory(self) -> Memory:
        return self._live().memory

    @property
    def scheduler(self) -> Scheduler | None:
        return self._run.scheduler if self._run is not None else None

    @property
    def asks(self) -> int:
        return self._asks

    def camera_ids(self) -> list[str]:
        return [c.id for c in self._config.cameras]

    @property
    def reloadable(self) -> bool:
        return self._changes.read is not None

    @property
    def reloading(self) -> bool:
        return self._changes.lock.locked()

    async def reload(self) -> ReloadPlan:
        """Read the config file again and apply the difference (see :mod:`.changes`)."""
        return await self._changes.reload()

    async def set_regions(
        self, camera: str, masks: list[Any] | None = None, zones: dict[str, Any] | None = None
    ) -> CameraConfig:
        """Replace a camera's privacy masks and/or zones (see :mod:`.changes`)."""
        return await self._changes.set_regions(camera, masks, zones)

    def _new_camera(self, config: CameraConfig) -> Camera:
        cfg = self._config
        return Camera(
            config, cfg.buffer, analysis_size=self._analysis_size, retry=self.retry, on_status=self._status,
            on_outage=self._outage, clips=cfg.clips, burst_fps=self._burst_fps,
        )  # fmt: skip

    def camera_reports(self) -> list[CameraReport]:
        run = self._run
        reports = []
        for cam_id, camera in self.cameras.items():
            counters = run.scheduler.counters.get(cam_id) if run is not None else None
            opened = run.output.open.opened.get(cam_id, 0) if run is not None else 0
            open_now = run.output.open.count(cam_id) if run is not None else 0
            reports.append(camera.report(counters, opened, open_now))
        return reports

    def latest_frame(self, camera: str) -> Frame | None:
        cam = self.cameras.get(camera)
        return cam.latest() if cam is not None else None

    @property
    def fleet(self) -> FleetPort | None:
        return self._fleet

    def buffered_frames(self, camera: str, since: float | None, until: float | None, limit: int) -> list[Frame]:
        buf = self._live().scheduler.buffers.get(camera)
        return spread(buf, since, until, limit) if buf is not None else []

    def queries(self) -> list[Query]:
        if self._run is None:
            return [Query.from_config(q) for q in self._config.queries]
        return self._run.queries.all()

    async def set_query(self, query: Query) -> None:
        await self._live().queries.set(query)

    async def delete_query(self, query_id: str) -> bool:
        return await self._live().queries.delete(query_id)

    async def arm_query(self, query_id: str, armed: bool, camera: str | None = None) -> Query | None:
        return await self._live().queries.arm(query_id, armed, camera)

    def query_frames(self) -> dict[str, int]:
        return dict(self._run.scheduler.query_frames) if self._run is not None else {}

    def open_alerts(self) -> list[Alert]:
        return list(self._run.output.open.by_id.values()) if self._run is not None else []

    async def ask(self, question: str, *, limit: int = 5, alert: str | None = None) -> Answer:
        answer = await self._live().asker.ask(question, limit=limit, alert=alert)
        self._asks += 1
        return answer

    async def feedback(self, alert_id: str, match: bool) -> Feedback | None:
        return await self._marks.mark(self._live(), alert_id, match)

    async def camera_clip(self, camera: str, since: float, until: float, path: Path) -> ClipInfo:
        cam = self.cameras.get(camera)
        if cam is None:
            raise ClipError(f"no camera {camera!r}")
        if cam.ring is None:
            raise ClipError(f"camera {camera!r} keeps no packets (clips are off, or it is a file: cut from the file)")
        gops = cam.ring.cut(since, until)
        masks = cam.config.mask_polygons()
        return await asyncio.to_thread(write_clip, gops, path, max_s=self._config.clips.max_s, masks=masks)

    async def embed_text(self, text: str) -> NDArray[np.float32] | None:
        selection = self._live().asker.selection
        if not selection.uses_model:
            return None
        return await self._limiter.run(selection.text_vector, text)

    def on_alert(self, listener: AlertListener) -> None:
        self._alert_listeners.append(listener)

    def on_status(self, listener: StatusListener) -> None:
        self._status_listeners.append(listener)

    def on_queries(self, listener: QueriesListener) -> None:
        self._query_listeners.append(listener)

    def on_outage(self, listener: OutageListener) -> None:
        self._outage_listeners.append(listener)

    def on_model_frames(self, listener: ModelFramesListener) -> None:
        """Tell ``listener`` which newly scored frames a model ran on and which the change gate held (an eval)."""
        self._model_frame_listeners.append(listener)

    # -- lifecycle ------------------------------------------------------------------------------

    def _make_scorer(self) -> Scorer:
        if self._scorer is not None:
            return self._scorer
        backend, reason = resolve_backend(self._config.scorer)
        self.backend, self.backend_reason = backend, reason
        if backend == "activity" and self._config.scorer.backend == "auto":
            log.warning(
                "NO MODEL: %s, so feedwatch uses the model-free ACTIVITY scorer. It ignores the query "
                "text: an alert means 'something changed in view', not that the question matched. Every "
                "alert says backend=activity, semantic=false. Install 'feedwatch[models]' and model "
                "weights for semantic alerts (see the README, 'Backends and their weights').",
                reason,
            )
        else:
            log.info("scorer backend: %s (%s)", backend, reason)
        scorer = create_scorer(self._config.scorer, backend)
        gate = self._config.scorer.gate
        if backend == "activity" or not gate.enabled:
            return scorer
        gated = self._lineup.gate = GatedScorer(scorer, gate)
        if not scorer.windowed and gate.burst_fps > 0:
            self._burst_fps = gate.burst_fps
            gated.on_motion = self._motion
        log.info("change gate on: the model scores a frame when %.1f%% of it changed", 100 * gate.min_change)
        return gated

    def _motion(self, camera: str) -> None:
        """The gate saw motion on ``camera`` (called from the scoring thread): sample it densely for a while."""
        found = self.cameras.get(camera)
        if found is not None:
            found.rate.burst(self._config.scorer.gate.burst_s)

    async def run(self) -> ServiceReport:
        """Run until stopped, or until every (non-looping file) camera has ended."""
        t0 = time.monotonic()
        self._changes.regions = RegionStore(self._config.memory.path / "regions.json")
        self._config = await asyncio.to_thread(self._changes.regions.overlay, self._config)
        cfg = self._config
        if not self.retry:
            # Fail fast, before loading any model, on a source that does not open.
            for cam in cfg.cameras:
                await asyncio.to_thread(probe, cam.url, source_options(cam, 224))
        scorer = await asyncio.to_thread(self._make_scorer)
        self._analysis_size = scorer.input_size
        if scorer.name == "openai" or self.backend == "openai":
            # A remote server: one slot for a scoring round (which sends its requests at once itself), one for an
            # answer, so a question never waits for a round.
            self._limiter = InferenceLimiter(2)
        try:
            async with contextlib.AsyncExitStack() as stack:
                memory = await asyncio.to_thread(open_memory, cfg.memory.path, cfg.memory.url)
                stack.push_async_callback(asyncio.to_thread, memory.close)  # fsyncs: never on the loop
                await asyncio.to_thread(self._prune, memory)
                for cam in cfg.cameras:
                    self._lineup.add(cam)
                if self.retry:
                    hooks = self._lineup.hooks = OfflineHooks(self.cameras, {cam.id: cam for cam in cfg.cameras})
                    stack.push_async_callback(hooks.close)
                run = self._run = await self._assemble(scorer, memory)
                for extension in self.extensions:
                    await extension.start(self, stack)
                stack.push_async_callback(self._close_readers, run)
                for cam_id, camera in self.cameras.items():
                    reader = run.readers[cam_id] = contextlib.AsyncExitStack()
                    await reader.enter_async_context(camera.reader)
                try:
                    await self._run_stages(run)
                except BaseExceptionGroup as group:
                    # Surface the first error of our own (a camera that cannot be opened, say) as itself.
                    first = _first_own_error(group)
                    if first is None:
                        raise
                    raise first from None
        finally:
            await asyncio.to_thread(scorer.close)
        return self._report(time.monotonic() - t0)

    async def _assemble(self, scorer: Scorer, memory: Memory) -> Running:
        cfg = self._config
        store = QueryStore(cfg.memory.path / "queries.json")
        configured = [Query.from_config(q) for q in cfg.queries]
        recorder = MomentRecorder(memory)
        recorder.on_outage(lambda text: self.health.degrade("memory", text))
        self.health.count("memory_write_failures", "Writes the memory refused (its disk full, its database away).",
                          lambda: float(recorder.failed_writes))  # fmt: skip
        self.health.count("moments_lost", "Moments given up after too many waited for the memory to take them.",
                          lambda: float(recorder.lost))  # fmt: skip
        rings = {cam_id: camera.ring for cam_id, camera in self.cameras.items() if camera.ring is not None}
        clipper = Clipper(cfg.clips, {cam.id: cam for cam in cfg.cameras}, rings, memory.clips)
        output = OutputStage(recorder, self._alert_listeners, clipper=clipper)
        self.health.count("alert_listener_failures", "Alert events a listener (an API) failed on, each one logged.",
                          lambda: float(output.listener_failures))  # fmt: skip
        gate = FeedbackGate(cfg.alerts.feedback_similarity)
        marks = await asyncio.to_thread(memory.feedback)
        gate.learn_all((mark.query_id, mark.match, mark.vector) for mark in marks)
        self.health.count("alerts_held_back", "Alerts held back because they looked like one a user marked wrong.",
                          lambda: float(gate.held_back))  # fmt: skip
        guard = ScoringGuard(scorer, self._limiter, fallback=create_fallback(cfg.scorer, scorer.name))
        guard.on_outage(lambda text: self.health.degrade("scorer", text))
        self.health.count("model_faults", "Model calls that failed, by kind (unavailable, overloaded, timeout, "
                          "malformed, rejected, out_of_memory).", lambda: dict(guard.faults), label="kind")  # fmt: skip
        self.health.count("unscored_windows", "Windows no scorer could score (the model away, no fallback).",
                          lambda: float(guard.unscored_windows))  # fmt: skip
        self.health.count("fallback_windows", "Windows the fallback scorer scored while the model was away.",
                          lambda: float(guard.fallback_windows))  # fmt: skip
        scheduler = Scheduler(
            scorer,
            {cam_id: camera.buffer for cam_id, camera in self.cameras.items()},
            await asyncio.to_thread(store.overlay, configured),
            cfg.alerts,
            gate.wrap(output.put),
            window=cfg.scorer.window,
            stride=cfg.scorer.stride,
            limiter=self._limiter,
            context=ContextSampler(),
            zones={cam.id: {z: cam.zone_polygon(z) for z in cam.zones} for cam in cfg.cameras},
            watching=Watching(cfg.timezone),
            guard=guard,
            outage_end_s=cfg.scorer.outage_end_s,
        )
        if self._model_frame_listeners:
            scheduler.on_model_frames = self._model_frames
        zones = {cam.id: list(cam.zones) for cam in cfg.cameras}
        queries = StandingQueries(scheduler, store, self.camera_ids(), zones)
        queries.listen(self._queries_changed)
        asker = Asker(
            memory,
            buffers=scheduler.buffers,
            selection=selection_for(scorer),
            answerer=await asyncio.to_thread(create_videoqa, cfg.qa),
            limiter=self._limiter,
            budget=cfg.qa.frame_budget,
            asked=AskedFrames(cfg.memory.path / "asked"),
            clip_fps=cfg.qa.clip_fps,
            elsewhere=self._fleet,
        )
        return Running(memory, scheduler, queries, asker, output, recorder, clipper, gate)

    def _status(self, camera: str, status: CameraStatus) -> None:
        for listener in self._status_listeners:
            try:
                listener(camera, status)
            except Exception:  # one listener's bug must not keep the news from the others
                log.exception("camera %s is %s: a status listener failed", camera, status.value)

    def _outage(self, outage: Outage) -> None:
        if self._lineup.hooks is not None:
            self._lineup.hooks.outage(outage)
        for listener in self._outage_listeners:
            try:
                listener(outage)
            except Exception:
                log.exception("camera %s outage: a listener failed", outage.camera)

    def _model_frames(self, camera: str, frames: tuple[Frame, ...], sent: list[bool]) -> None:
        for listener in self._model_frame_listeners:
            listener(camera, frames, sent)

    def _queries_changed(self) -> None:
        for listener in self._query_listeners:
            try:
                listener()
            except Exception:
                log.exception("standing queries changed: a listener failed")

    def _stage(
        self, name: str, run: Callable[[], Awaitable[None]], *, restart: bool = True
    ) -> Coroutine[Any, Any, None]:
        """``run`` as a supervised stage: logged and restarted on bugs; fatal to ``watch`` once it cannot be."""
        policy = self.restart_policy if restart else dataclasses.replace(self.restart_policy, restart=False)
        return supervise(name, run, self.health, policy=policy, fatal=not self.retry, stopping=self._stop)

    async def _close_readers(self, run: Running) -> None:
        for stack in list(run.readers.values()):
            await stack.aclose()

    async def _run_stages(self, run: Running) -> None:
        async with asyncio.TaskGroup() as tg:
            run.tasks = tg
            for c in self.cameras.values():
                run.ingest[c.id] = tg.create_task(self._ingest(c, run), name=f"ingest-{c.id}")
            output = tg.create_task(self._stage("output", run.output.run), name="output")
            stages = [output]
            sched = tg.create_task(self._schedule(run), name="scheduler")
            stages.append(sched)
            if self.retry:
                prune = functools.partial(self._prune_periodically, sched, run.memory)
                stages.append(tg.create_task(self._stage("retention", prune), name="retention"))
            stopper = tg.create_task(self._stop.wait(), name="stop-watch")
            await asyncio.wait([sched, stopper], return_when=asyncio.FIRST_COMPLETED)
            run.tasks = None  # no camera starts from here on
            stages.extend(run.ingest.values())
            if not stopper.done():
                stopper.cancel()
                await asyncio.gather(*run.ingest.values())
                return
            log.info("stopping: ending open alerts and draining")
            run.scheduler.stop()
            for camera in self.cameras.values():
                await camera.buffer.close()  # unblock ingest waiting on a full buffer
            for camera in self.cameras.values():
                await camera.reader.close()
                self._status(camera.id, CameraStatus.OFFLINE)
            # Shutdown drains within a deadline and never hangs: a stage still running then is named and cancelled.
            _, pending = await asyncio.wait(stages, timeout=_SHUTDOWN_S)
            for task in pending:
                log.error("shutdown: %s did not finish within %.0f s; cancelling it", task.get_name(), _SHUTDOWN_S)
                task.cancel()

    async def _ingest(self, camera: Camera, run: Running) -> None:
        try:
            await self._stage(f"ingest-{camera.id}", functools.partial(camera.ingest, run.scheduler.notify))
        finally:
            await camera.end(run.scheduler.notify)

    async def _schedule(self, run: Running) -> None:
        try:
            await self._stage("scheduler", run.scheduler.run)
        finally:
            await run.output.put(None)

    def _prune(self, memory: Memory) -> None:
        prune(
            memory,
            max_age_s=self._config.memory.retention_days * 86400,
            max_bytes=int(self._config.memory.max_mb * 2**20),
        )

    async def _prune_periodically(self, until: asyncio.Task[None], memory: Memory) -> None:
        while not until.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(until), _PRUNE_EVERY_S)
            if not until.done():
                await asyncio.to_thread(self._prune, memory)

    def _report(self, wall_s: float) -> ServiceReport:
        run = self._run
        return ServiceReport(
            self.backend,
            self.backend_reason,
            wall_s,
            cameras=self.camera_reports(),
            alerts=run.output.open.total_opened if run is not None else 0,
            moments=run.recorder.moments if run is not None else 0,
        )


def _first_own_error(group: BaseExceptionGroup[BaseException]) -> FeedwatchError | None:
    for exc in group.exceptions:
        if isinstance(exc, FeedwatchError):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            found = _first_own_error(exc)
            if found is not None:
                return found
    return None
