"""Matching alerts to annotated events: recall, false alerts, onset latency and temporal IoU per query."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["QueryMetrics", "Span", "score_alerts"]


@dataclass(frozen=True, slots=True)
class Span:
    start: float
    end: float

    def overlaps(self, other: Span) -> bool:
        return self.start <= other.end and self.end >= other.start

    def iou(self, other: Span) -> float:
        inter = min(self.end, other.end) - max(self.start, other.start)
        union = max(self.end, other.end) - min(self.start, other.start)
        if union <= 0:  # two instants at the same time
            return 1.0 if inter >= 0 else 0.0
        return max(0.0, inter) / union


@dataclass(slots=True)
class QueryMetrics:
    """What one query's alerts did against its events."""

    query: str
    distractor: bool
    events: int
    detected: int
    alerts: int
    false_alerts: int
    onset_latencies: list[float] = field(default_factory=list)
    ious: list[float] = field(default_factory=list)

    @property
    def event_recall(self) -> float | None:
        return self.detected / self.events if self.events else None

    def to_dict(self, hours: float) -> dict[str, Any]:
        return {
            "query": self.query,
            "distractor": self.distractor,
            "events": self.events,
            "detected": self.detected,
            "event_recall": None if self.event_recall is None else round(self.event_recall, 4),
            "alerts": self.alerts,
            "false_alerts": self.false_alerts,
            "false_alerts_per_hour": round(self.false_alerts / hours, 2) if hours > 0 else None,
            "onset_latency_s": _quantiles(self.onset_latencies),
            "temporal_iou": round(float(np.mean(self.ious)), 4) if self.ious else None,
        }


def _quantiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None}
    return {"p50": round(float(np.percentile(values, 50)), 3), "p95": round(float(np.percentile(values, 95)), 3)}


def score_alerts(events: list[Span], alerts: list[Span], *, query: str, distractor: bool = False) -> QueryMetrics:
    """Match one query's alerts against its events (all alerts of a distractor are false)."""
    metrics = QueryMetrics(query, distractor, len(events), 0, len(alerts), 0)
    for alert in alerts:
        if distractor or not any(alert.overlaps(e) for e in events):
            metrics.false_alerts += 1
    for event in events:
        covering = [a for a in alerts if a.overlaps(event)]
        if not covering:
            continue
        metrics.detected += 1
        metrics.onset_latencies.append(min(a.start for a in covering) - event.start)
        metrics.ious.append(max(a.iou(event) for a in covering))
    return metrics
