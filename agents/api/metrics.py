"""Prometheus metrics of a running service, read from its counters at scrape time."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from streamer.transport.events import EventHub

from ..service.port import ServicePort

__all__ = ["metrics_text"]

_COUNTERS = [
    ("frames_decoded", "decoded", "Frames decoded (all frames the decoder produced)."),
    ("frames_sampled", "sampled", "Frames sampled into the rolling buffer."),
    ("frames_dropped", "dropped", "Frames dropped: hand-off overflow and evicted before scoring."),
    ("frames_scored", "scored", "Frames scored against the standing queries."),
    ("frames_skipped", "skipped", "Frames skipped by the scheduler to keep up with live feeds."),
    ("frames_to_model", "model_frames", "Frames (whole or a zone's crop) the scoring model ran on."),
    ("frames_held", "held_frames", "Frames the change gate held back from the model: the scene had not changed."),
    ("alerts", "alerts", "Alerts opened."),
    ("reconnects", "reconnects", "Times the camera was reopened."),
    ("camera_offline_seconds", "offline_s", "Seconds the camera was neither live nor ended (connecting, away)."),
    ("camera_outages", "outages", "Times the camera went away."),
    ("camera_hook_runs", "hook_runs", "Times the camera's on_offline command ran."),
]


class _ServiceCollector(Collector):
    def __init__(self, port: ServicePort, hub: EventHub, responses: dict[str, int]) -> None:
        self.port = port
        self.hub = hub
        self.responses = responses

    def collect(self) -> Iterator[Metric]:
        reports = self.port.camera_reports()
        for name, attr, doc in _COUNTERS:
            family = CounterMetricFamily(f"feedwatch_{name}", doc, labels=["camera"])
            for r in reports:
                family.add_metric([r.camera], float(getattr(r, attr)))
            yield family
        gauges = {
            "queue_lag_seconds": ("Age of the oldest frame not yet scored.", {r.camera: r.lag_s for r in reports}),
            "camera_up": (
                "1 while the camera delivers frames.",
                {r.camera: float(r.status == "live") for r in reports},
            ),
            "buffer_frames": ("Frames in the rolling buffer.", {r.camera: float(r.buffer_frames) for r in reports}),
            "buffer_bytes": ("Bytes in the rolling buffer.", {r.camera: float(r.buffer_bytes) for r in reports}),
            "open_alerts": ("Alerts open now.", {r.camera: float(r.open_alerts) for r in reports}),
        }
        for name, (doc, values) in gauges.items():
            gauge = GaugeMetricFamily(f"feedwatch_{name}", doc, labels=["camera"])
            for camera, value in values.items():
                gauge.add_metric([camera], float(value))
            yield gauge
        yield GaugeMetricFamily("feedwatch_event_subscribers", "Live event streams open.", value=self.hub.subscribers)
        yield CounterMetricFamily("feedwatch_asks", "Questions answered.", value=self.port.asks)
        health = self.port.health
        report = health.report()
        yield GaugeMetricFamily("feedwatch_healthy", "1 while no stage is down and nothing reports a problem.",
                                value=float(report.healthy))  # fmt: skip
        restarts = CounterMetricFamily(
            "feedwatch_stage_restarts", "Times a stage failed on a bug and was restarted (each one logged).",
            labels=["stage"],
        )  # fmt: skip
        for stage, count in sorted(report.restarts.items()):
            restarts.add_metric([stage], float(count))
        yield restarts
        answered = CounterMetricFamily("feedwatch_http_responses", "HTTP responses by status class.", labels=["code"])
        for code, count in sorted(self.responses.items()):
            answered.add_metric([code], float(count))
        yield answered
        yield GaugeMetricFamily("feedwatch_degraded", "1 while a dependency (the model, the memory) is away.",
                                value=float(bool(report.degraded)))  # fmt: skip
        for counter in health.counters:
            read = counter.read()
            if isinstance(read, Mapping):
                family = CounterMetricFamily(f"feedwatch_{counter.name}", counter.doc, labels=[counter.label or "kind"])
                for key, value in sorted(read.items()):
                    family.add_metric([key], float(value))
                yield family
            else:
                yield CounterMetricFamily(f"feedwatch_{counter.name}", counter.doc, value=read)


def metrics_text(port: ServicePort, hub: EventHub, responses: dict[str, int] | None = None) -> bytes:
    """The Prometheus text exposition of a running service now (call on the loop); ``responses`` are the HTTP
    responses given so far by status class."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ServiceCollector(port, hub, responses or {}))
    return generate_latest(registry)
