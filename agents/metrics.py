"""Prometheus metrics of a running service, read from its counters at scrape time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from .service import Service

__all__ = ["metrics_text"]

_COUNTERS = [
    ("frames_decoded", "decoded", "Frames decoded (all frames the decoder produced)."),
    ("frames_sampled", "sampled", "Frames sampled into the rolling buffer."),
    ("frames_dropped", "dropped", "Frames dropped: hand-off overflow and evicted before scoring."),
    ("frames_scored", "scored", "Frames scored against the standing queries."),
    ("frames_skipped", "skipped", "Frames skipped by the scheduler to keep up with live feeds."),
    ("alerts", "alerts", "Alerts opened."),
    ("reconnects", "reconnects", "Times the camera was reopened."),
]


class _ServiceCollector(Collector):
    def __init__(self, service: Service) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        service = self.service
        reports = service.camera_reports()
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
            "buffer_frames": ("Frames in the rolling buffer.", {c: float(len(b)) for c, b in service.buffers.items()}),
            "buffer_bytes": ("Bytes in the rolling buffer.", {c: float(b.nbytes) for c, b in service.buffers.items()}),
            "open_alerts": ("Alerts open now.", {r.camera: float(service.open_alert_count(r.camera)) for r in reports}),
        }
        for name, (doc, values) in gauges.items():
            gauge = GaugeMetricFamily(f"feedwatch_{name}", doc, labels=["camera"])
            for camera, value in values.items():
                gauge.add_metric([camera], float(value))
            yield gauge
        yield GaugeMetricFamily(
            "feedwatch_event_subscribers", "Live event streams open.", value=service.events.subscribers
        )
        yield CounterMetricFamily("feedwatch_asks", "Questions answered over the API.", value=service.asks)


def metrics_text(service: Service) -> bytes:
    """The Prometheus text exposition of ``service`` now (call on the loop)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ServiceCollector(service))
    return generate_latest(registry)
