"""The service: cameras -> buffers -> scheduler -> alert policy -> memory and publishers.

Every resource is an async context manager entered on one exit stack; the stages run in one
TaskGroup. Shutdown is startup in reverse: readers stop, the scheduler ends open alerts, the output
stage drains, then the HTTP server, MQTT and the memory close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from streamer import (
    CameraReader,
    CameraStatus,
    ConfigError,
    EventHub,
    FeedwatchError,
    FrameBuffer,
    HttpServer,
    MemoryStoreError,
    MqttPublisher,
    MqttSettings,
    OverflowPolicy,
    SourceOptions,
    is_loopback,
    probe,
)

from .alerts import Alert, AlertKind, alert_view
from .asker import Asker
from .config import CameraConfig, FeedwatchConfig
from .context import ContextKeyframe, ContextSampler
from .memory import MomentMemory
from .mqtt_api import MqttApi, QueryStore, apply_overlay
from .publish import MqttAlertSink
from .recorder import MomentRecorder
from .scheduler import CameraCounters, Scheduler
from .scoring import Query, Scorer, create_scorer, resolve_backend
from .videoqa import create_videoqa

__all__ = ["CameraReport", "Service", "ServiceReport"]

log = logging.getLogger(__name__)

AlertCallback = Callable[[Alert], Awaitable[None]]
_PRUNE_EVERY_S = 600.0
_SHUTDOWN_S = 8.0


@dataclass(slots=True)
class CameraReport:
    """Per-camera figures at the end of a run."""

    camera: str
    status: str
    decoded: int
    sampled: int
    dropped: int
    reconnects: int
    scored: int
    skipped: int
    alerts: int
    max_lag_s: float = 0.0
    lag_s: float = 0.0


@dataclass(slots=True)
class ServiceReport:
    """What a run did."""

    backend: str
    backend_reason: str
    wall_s: float
    cameras: list[CameraReport] = field(default_factory=list)
    alerts: int = 0
    moments: int = 0


def _queries(config: FeedwatchConfig) -> list[Query]:
    return [Query(q.id, q.text, q.threshold, tuple(q.cameras)) for q in config.queries]


class Service:
    """Run the configured cameras and queries until stopped (or, for files, until they end)."""

    def __init__(
        self,
        config: FeedwatchConfig,
        *,
        retry: bool,
        on_alert: AlertCallback | None = None,
        scorer: Scorer | None = None,
    ) -> None:
        self.config = config
        self.retry = retry
        self.on_alert = on_alert
        self._scorer = scorer
        self.backend = scorer.name if scorer is not None else ""
        self.backend_reason = "given by the caller" if scorer is not None else ""
        self.readers: dict[str, CameraReader] = {}
        self.buffers: dict[str, FrameBuffer] = {}
        self.scheduler: Scheduler | None = None
        self.memory: MomentMemory | None = None
        self._mqtt: MqttAlertSink | None = None
        self._outbox: asyncio.Queue[Alert | ContextKeyframe | None] = asyncio.Queue(maxsize=1024)
        self._stop = asyncio.Event()
        self._alerts = 0
        self.recorder: MomentRecorder | None = None
        self.asker: Asker | None = None
        self.events = EventHub()
        self.open_alerts: dict[str, Alert] = {}
        self.query_store = QueryStore(config.memory.path / "queries.json")
        self._query_listeners: list[Callable[[], None]] = []
        self.http_port: int | None = None
        self.asks = 0
        self._alerts_by_camera: dict[str, int] = {}

    def stop(self) -> None:
        """Ask the service to shut down (safe from a signal handler on the loop)."""
        self._stop.set()

    # -- standing queries at run time -----------------------------------------------------------

    def list_queries(self) -> list[Query]:
        """The standing queries in force now."""
        return self.scheduler.queries if self.scheduler is not None else _queries(self.config)

    def add_query(self, query: Query) -> None:
        """Add or replace a standing query; it applies from the next scored window."""
        unknown = [c for c in query.cameras if c not in self.readers]
        if unknown:
            raise ConfigError(f"query {query.id!r} names unknown camera(s) {unknown}; known: {sorted(self.readers)}")
        if self.scheduler is None:
            raise ConfigError("the service is not running yet")
        self.scheduler.add_query(query)
        if self._mqtt is not None:
            for cam in self.readers:
                if query.applies_to(cam):
                    self._mqtt.query_state(cam, query.id, False)
        log.info("standing query %s added: %r", query.id, query.text)

    def on_queries_changed(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on the loop) whenever the standing queries change at run time."""
        self._query_listeners.append(callback)

    async def set_query(self, query: Query) -> None:
        """Add or replace a standing query, persist it so it survives a restart, and announce the new list."""
        self.add_query(query)
        await asyncio.to_thread(self.query_store.remember, query)
        self._queries_changed()

    async def delete_query(self, query_id: str) -> bool:
        """Remove a standing query (ending its open alerts), persist and announce; False when there was none."""
        if not await self.remove_query(query_id):
            return False
        await asyncio.to_thread(self.query_store.forget, query_id)
        self._queries_changed()
        return True

    def _queries_changed(self) -> None:
        for callback in self._query_listeners:
            callback()
        self.events.publish("queries", {"queries": [q.id for q in self.list_queries()]})

    async def remove_query(self, query_id: str) -> bool:
        """Remove a standing query, ending its open alerts; False when there was no such query."""
        if self.scheduler is None:
            return False
        removed = await self.scheduler.remove_query(query_id)
        if removed:
            log.info("standing query %s removed", query_id)
        return removed

    def _make_scorer(self) -> Scorer:
        if self._scorer is not None:
            return self._scorer
        backend, reason = resolve_backend(self.config.scorer)
        self.backend, self.backend_reason = backend, reason
        if backend == "activity" and self.config.scorer.backend == "auto":
            log.warning(
                "NO MODEL: %s, so feedwatch uses the model-free ACTIVITY scorer. It ignores the query "
                "text: an alert means 'something changed in view', not that the question matched. Every "
                "alert says backend=activity, semantic=false. Install 'feedwatch[models]' and model "
                "weights for semantic alerts (see the README, 'Backends and their weights').",
                reason,
            )
        else:
            log.info("scorer backend: %s (%s)", backend, reason)
        return create_scorer(self.config.scorer, backend)

    async def run(self) -> ServiceReport:
        """Run until stopped, or until every (non-looping file) camera has ended."""
        t0 = time.monotonic()
        cfg = self.config
        token = os.environ.get(cfg.http.token_env) or None
        if cfg.http.enabled and token is None and not is_loopback(cfg.http.host):
            raise ConfigError(
                f"http.host {cfg.http.host} is reachable from other machines, so the API needs a bearer token: set "
                f"the environment variable {cfg.http.token_env}, or bind http.host to 127.0.0.1"
            )
        if not self.retry:
            # Fail fast, before loading any model, on a source that does not open.
            for cam in cfg.cameras:
                await asyncio.to_thread(probe, cam.url, _source_options(cam, 224))
        scorer = await asyncio.to_thread(self._make_scorer)
        try:
            async with contextlib.AsyncExitStack() as stack:
                self.memory = await asyncio.to_thread(MomentMemory, cfg.memory.path)
                stack.callback(self.memory.close)
                await asyncio.to_thread(self._prune)
                queries = apply_overlay(_queries(cfg), self.query_store)
                publisher: MqttPublisher | None = None
                if cfg.mqtt.enabled:
                    publisher = await stack.enter_async_context(MqttPublisher(_mqtt_settings(cfg)))
                    self._mqtt = MqttAlertSink(publisher)
                for cam in cfg.cameras:
                    self.readers[cam.id] = await stack.enter_async_context(self._reader(cam, scorer))
                    self.buffers[cam.id] = FrameBuffer(
                        cam.id,
                        max_seconds=cfg.buffer.seconds,
                        max_bytes=int(cfg.buffer.max_mb * 2**20),
                        policy=self.readers[cam.id].policy,
                    )
                if self._mqtt is not None:
                    for cam in cfg.cameras:
                        self._on_status(cam.id, CameraStatus.CONNECTING)
                    for query in queries:
                        for cam in cfg.cameras:
                            if query.applies_to(cam.id):
                                self._mqtt.query_state(cam.id, query.id, False)
                self.scheduler = Scheduler(
                    scorer,
                    self.buffers,
                    queries,
                    cfg.alerts,
                    self._outbox.put,
                    window=cfg.scorer.window,
                    stride=cfg.scorer.stride,
                    context=ContextSampler(),
                )
                answerer = await asyncio.to_thread(create_videoqa, cfg.qa)
                self.asker = Asker(
                    self.memory,
                    self.buffers,
                    scorer,
                    answerer,
                    self.scheduler.limiter,
                    budget=cfg.qa.frame_budget,
                    frames_dir=cfg.memory.path / "asked",
                )
                if publisher is not None:
                    discovery = cfg.mqtt.discovery_prefix or None
                    MqttApi(self, publisher, self.asker, discovery).publish_state()
                if cfg.http.enabled:
                    from .http_api import create_app

                    app = create_app(self, token, max_body=cfg.http.max_body_kb * 1024)
                    server = await stack.enter_async_context(HttpServer(app, cfg.http.host, cfg.http.port))
                    self.http_port = server.bound_port
                    stack.callback(self.events.close)  # runs first on the way out: live streams end, then the server
                try:
                    await self._run_stages(self.scheduler)
                except BaseExceptionGroup as group:
                    # Surface the first error of our own (a camera that cannot be opened, say) as itself.
                    first = _first_own_error(group)
                    if first is None:
                        raise
                    raise first from None
        finally:
            await asyncio.to_thread(scorer.close)
        return self._report(time.monotonic() - t0)

    def _reader(self, cam: CameraConfig, scorer: Scorer) -> CameraReader:
        options = _source_options(cam, scorer.input_size)
        policy = OverflowPolicy.DROP_OLDEST if cam.realtime else None
        return CameraReader(cam.id, cam.url, options, retry=self.retry, policy=policy, on_status=self._on_status)

    def _on_status(self, camera: str, status: CameraStatus) -> None:
        self.events.publish("status", {"camera": camera, "status": status.value, "time": round(time.time(), 3)})
        if self._mqtt is not None:
            reader = self.readers.get(camera)
            self._mqtt.camera_status(camera, status, reader.url if reader else None)

    async def _run_stages(self, scheduler: Scheduler) -> None:
        async with asyncio.TaskGroup() as tg:
            ingest = [tg.create_task(self._ingest(cam, scheduler), name=f"ingest-{cam}") for cam in self.readers]
            stages = [*ingest, tg.create_task(self._output(), name="output")]
            sched = tg.create_task(self._schedule(scheduler), name="scheduler")
            stages.append(sched)
            if self.retry:
                stages.append(tg.create_task(self._prune_periodically(sched), name="retention"))
            stopper = tg.create_task(self._stop.wait(), name="stop-watch")
            await asyncio.wait([sched, stopper], return_when=asyncio.FIRST_COMPLETED)
            if not stopper.done():
                stopper.cancel()
                await asyncio.gather(*ingest)
                return
            log.info("stopping: ending open alerts and draining")
            scheduler.stop()
            for buf in self.buffers.values():
                await buf.close()  # unblock ingest waiting on a full buffer
            for camera, reader in self.readers.items():
                await reader.close()
                self._on_status(camera, CameraStatus.OFFLINE)
            # Shutdown drains within a deadline and never hangs: a stage still running then is named and cancelled.
            _, pending = await asyncio.wait(stages, timeout=_SHUTDOWN_S)
            for task in pending:
                log.error("shutdown: %s did not finish within %.0f s; cancelling it", task.get_name(), _SHUTDOWN_S)
                task.cancel()

    async def _ingest(self, camera: str, scheduler: Scheduler) -> None:
        reader, buf = self.readers[camera], self.buffers[camera]
        try:
            async for frame in reader.frames():
                await buf.put(frame)
                scheduler.notify()
        finally:
            await buf.close()
            scheduler.notify()

    async def _schedule(self, scheduler: Scheduler) -> None:
        try:
            await scheduler.run()
        finally:
            await self._outbox.put(None)

    async def _output(self) -> None:
        while (event := await self._outbox.get()) is not None:
            if isinstance(event, ContextKeyframe):
                try:
                    await asyncio.to_thread(self._recorder().context_keyframe, event)
                except MemoryStoreError as exc:
                    log.error("memory: context keyframe of %s not stored: %s", event.frame.camera, exc)
                continue
            try:
                alert = await asyncio.to_thread(self._recorder().alert, event)
            except MemoryStoreError as exc:
                # The alert still goes out (without its snapshot path); the memory says what failed.
                log.error("memory: alert %s of %s not stored: %s", event.id, event.camera, exc)
                alert = event
            if alert.kind is AlertKind.END:
                self.open_alerts.pop(alert.id, None)
            else:
                self.open_alerts[alert.id] = alert
            self.events.publish("alert", alert_view(alert))
            self._alerts += alert.kind is AlertKind.NEW
            if alert.kind is AlertKind.NEW:
                self._alerts_by_camera[alert.camera] = self._alerts_by_camera.get(alert.camera, 0) + 1
            if self._mqtt is not None:
                await self._mqtt(alert)
            if self.on_alert is not None:
                await self.on_alert(alert)

    def _recorder(self) -> MomentRecorder:
        if self.recorder is None:
            assert self.memory is not None
            scheduler = self.scheduler
            self.recorder = MomentRecorder(
                self.memory, lambda cam, seq: scheduler.embedding_for(cam, seq) if scheduler else None
            )
        return self.recorder

    def _prune(self) -> None:
        assert self.memory is not None
        self.memory.prune(
            max_age_s=self.config.memory.retention_days * 86400,
            max_bytes=int(self.config.memory.max_mb * 2**20),
        )

    async def _prune_periodically(self, until: asyncio.Task[None]) -> None:
        while not until.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(until), _PRUNE_EVERY_S)
            if not until.done():
                await asyncio.to_thread(self._prune)

    def _report(self, wall_s: float) -> ServiceReport:
        return ServiceReport(
            self.backend,
            self.backend_reason,
            wall_s,
            cameras=self.camera_reports(),
            alerts=self._alerts,
            moments=self.recorder.moments if self.recorder else 0,
        )

    def open_alert_count(self, camera: str) -> int:
        """Alerts open now on ``camera``."""
        return sum(a.camera == camera for a in self.open_alerts.values())

    def camera_reports(self) -> list[CameraReport]:
        """Each camera's counters now (call on the loop)."""
        reports = []
        for cam, reader in self.readers.items():
            counters = self.scheduler.counters.get(cam) if self.scheduler else None
            counters = counters or CameraCounters()
            reports.append(
                CameraReport(
                    camera=cam,
                    status=reader.status.value,
                    decoded=reader.stats.decoded,
                    sampled=reader.stats.sampled,
                    dropped=reader.stats.dropped + self.buffers[cam].stats.dropped_unscored,
                    reconnects=reader.stats.reconnects,
                    scored=counters.scored,
                    skipped=counters.skipped,
                    alerts=self._alerts_by_camera.get(cam, 0),
                    max_lag_s=round(counters.max_lag_s, 3),
                    lag_s=round(counters.lag_s, 3),
                )
            )
        return reports


def _source_options(cam: CameraConfig, analysis_size: int) -> SourceOptions:
    return SourceOptions(
        sample_fps=cam.fps,
        keyframes_only=cam.keyframes_only,
        analysis_size=analysis_size,
        realtime=cam.realtime,
        loop=cam.loop,
        rtsp_transport=cam.rtsp_transport,
        open_timeout_s=cam.open_timeout_s,
        read_timeout_s=cam.read_timeout_s,
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


def _mqtt_settings(cfg: FeedwatchConfig) -> MqttSettings:
    m = cfg.mqtt
    return MqttSettings(
        host=m.host,
        port=m.port,
        prefix=m.prefix,
        client_id=m.client_id,
        username=m.username,
        password=m.password,
        qos=m.qos,
        keepalive_s=m.keepalive_s,
        tls_ca=str(m.tls_ca) if m.tls_ca else None,
        tls_cert=str(m.tls_cert) if m.tls_cert else None,
        tls_key=str(m.tls_key) if m.tls_key else None,
        outbox=str(cfg.memory.path / "mqtt-outbox.sqlite") if m.outbox else None,
    )
