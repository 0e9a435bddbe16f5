"""`feedwatch eval`: replay annotated videos through the real pipeline and measure the alerts.

An annotation is one JSON file per video::

    {"video": "file.mp4", "seconds": 139.4,
     "events": [{"query": "a person", "start": 7, "end": 20}, ...],
     "distractor_queries": ["a car"]}

Times are seconds from the start of the file. Every event query and every distractor becomes a
standing query; the video is replayed as fast as possible with times taken from the stream. An alert
"covers" an event of its query when their spans overlap.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from streamer import ConfigError

from .alerts import Alert, AlertKind
from .config import format_validation_error, validate_config
from .service import Service

__all__ = ["Annotation", "QueryMetrics", "Span", "evaluate", "load_annotation", "score_alerts"]


class AnnotatedEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    query: str = Field(min_length=1, description="The standing question this event answers.")
    start: float = Field(ge=0, description="Seconds from the start of the video.")
    end: float = Field(ge=0, description="Seconds from the start of the video.")

    @model_validator(mode="after")
    def _ordered(self) -> AnnotatedEvent:
        if self.end < self.start:
            raise ValueError(f"event ends ({self.end}) before it starts ({self.start})")
        return self


class Annotation(BaseModel):
    """Ground truth for one video."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    video: str = Field(description="The video file, relative to the annotation file.")
    seconds: float = Field(gt=0, description="Length of the video in seconds.")
    events: list[AnnotatedEvent] = Field(default_factory=list, description="What happened, per query.")
    distractor_queries: list[str] = Field(default_factory=list, description="Queries that must never alert.")


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


def load_annotation(path: Path) -> Annotation:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"annotation {path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"annotation {path} is not valid JSON: {exc}") from exc
    try:
        return Annotation.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"annotation {path} is invalid:\n  " + "\n  ".join(format_validation_error(exc))) from None


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:48] or "query"


async def _replay(
    video: Path, queries: dict[str, str], base: dict[str, Any], memory: Path, progress: Callable[[float], None] | None,
    seconds: float,
) -> tuple[dict[str, list[Span]], str, str]:  # fmt: skip
    data = json.loads(json.dumps(base))  # a deep copy
    threshold = data.pop("threshold", 3.0)
    data["cameras"] = [{"id": "eval", "url": str(video)}]
    data["queries"] = [{"id": qid, "text": text, "threshold": threshold} for qid, text in queries.items()]
    data.setdefault("memory", {})["path"] = str(memory)
    data["mqtt"] = {"enabled": False}
    config = validate_config(data, "eval settings")
    spans: dict[str, list[Span]] = {qid: [] for qid in queries}

    async def collect(alert: Alert) -> None:
        if alert.kind is AlertKind.END:
            spans[alert.query_id].append(Span(alert.start_pts, alert.end_pts))

    service = Service(config, retry=False, on_alert=collect)
    if progress is None:
        report = await service.run()
    else:
        import asyncio

        task = asyncio.create_task(service.run())
        while not task.done():
            await asyncio.wait([task], timeout=0.25)
            sched = service.scheduler
            if sched is not None and "eval" in sched.counters:
                progress(min(1.0, sched.counters["eval"].scored / max(1.0, seconds * config.cameras[0].fps)))
        report = task.result()
        progress(1.0)
    return spans, report.backend, report.backend_reason


async def evaluate(
    annotations: list[Path],
    *,
    base_config: dict[str, Any] | None = None,
    scorer: str | None = None,
    threshold: float = 3.0,
    progress: Callable[[str, float], None] | None = None,
) -> dict[str, Any]:
    """Replay every annotated video and report per-query and overall metrics."""
    t0 = time.perf_counter()
    base = dict(base_config or {})
    base.pop("cameras", None)
    base.pop("queries", None)
    if scorer is not None:
        base.setdefault("scorer", {})["backend"] = scorer
    base["threshold"] = threshold
    per_query: dict[tuple[str, bool], QueryMetrics] = {}
    videos = []
    hours = 0.0
    backend = reason = ""
    for path in annotations:
        ann = load_annotation(path)
        video = (path.parent / ann.video).resolve()
        texts = list(dict.fromkeys([e.query for e in ann.events] + ann.distractor_queries))
        ids = {text: _slug(text) for text in texts}
        if len(set(ids.values())) != len(ids):
            raise ConfigError(f"annotation {path}: two queries map to the same id: {sorted(ids.values())}")
        with tempfile.TemporaryDirectory(prefix="feedwatch-eval-") as memory:
            report_progress = (lambda f, name=path.name: progress(name, f)) if progress else None
            spans, backend, reason = await _replay(
                video, {ids[t]: t for t in texts}, base, Path(memory), report_progress, ann.seconds
            )
        hours += ann.seconds / 3600
        for text in texts:
            distractor = text in ann.distractor_queries and not any(e.query == text for e in ann.events)
            events = [Span(e.start, e.end) for e in ann.events if e.query == text]
            m = score_alerts(events, spans[ids[text]], query=text, distractor=distractor)
            acc = per_query.get((text, distractor))
            if acc is None:
                per_query[(text, distractor)] = m
            else:
                acc.events += m.events
                acc.detected += m.detected
                acc.alerts += m.alerts
                acc.false_alerts += m.false_alerts
                acc.onset_latencies += m.onset_latencies
                acc.ious += m.ious
        videos.append({"annotation": str(path), "video": str(video), "seconds": ann.seconds})
    queries = list(per_query.values())
    real = [q for q in queries if not q.distractor]
    overall = QueryMetrics(
        "overall",
        False,
        sum(q.events for q in real),
        sum(q.detected for q in real),
        sum(q.alerts for q in queries),
        sum(q.false_alerts for q in queries),
        [x for q in real for x in q.onset_latencies],
        [x for q in real for x in q.ious],
    )
    result: dict[str, Any] = {
        "scorer": backend,
        "scorer_reason": reason,
        "semantic": backend != "activity",
        "videos": videos,
        "hours": round(hours, 4),
        "queries": [q.to_dict(hours) for q in queries],
        "overall": overall.to_dict(hours),
        "wall_s": round(time.perf_counter() - t0, 2),
    }
    if backend == "activity":
        result["note"] = (
            "the activity scorer ignores the query text: it alerts on any activity, so distractor queries "
            "fire too (their alerts count as false alerts)"
        )
    return result


def format_eval(result: dict[str, Any]) -> str:
    """The short human-readable table."""
    lines = [f"scorer: {result['scorer']} ({result['scorer_reason']}); {result['hours'] * 60:.1f} min of video "
             f"replayed in {result['wall_s']:.1f} s"]  # fmt: skip
    head = f"{'query':<28}{'events':>7}{'recall':>8}{'alerts':>8}{'false':>7}{'false/h':>9}{'onset p50':>10}"
    head += f"{'onset p95':>10}{'IoU':>7}"
    lines.append(head)

    def fmt(x: float | None, spec: str) -> str:
        return "-" if x is None else format(x, spec)

    for row in [*result["queries"], result["overall"]]:
        name = row["query"] + (" (distractor)" if row["distractor"] else "")
        lines.append(
            f"{name[:27]:<28}{row['events']:>7}{fmt(row['event_recall'], '.2f'):>8}{row['alerts']:>8}"
            f"{row['false_alerts']:>7}{fmt(row['false_alerts_per_hour'], '.1f'):>9}"
            f"{fmt(row['onset_latency_s']['p50'], '.1f'):>10}{fmt(row['onset_latency_s']['p95'], '.1f'):>10}"
            f"{fmt(row['temporal_iou'], '.2f'):>7}"
        )
    if "note" in result:
        lines.append(f"note: {result['note']}")
    return "\n".join(lines)
