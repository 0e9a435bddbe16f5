"""``feedwatch eval``: replay annotated videos through the real pipeline and measure the alerts.

Every event query and every distractor becomes a standing query; the video is replayed as fast as possible
with times taken from the stream, through the service alone (no HTTP or MQTT: a replay binds no port). An
alert "covers" an event of its query when their spans overlap.
"""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from streamer.errors import ConfigError
from streamer.frames import Frame

from ..alerting import AlertKind
from ..config import validate_config
from ..service import AlertEvent, Service
from .annotations import load_annotation
from .metrics import QueryMetrics, Span, score_alerts

__all__ = ["evaluate", "format_eval"]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:48] or "query"


class _ModelFrames:
    """Which replayed frames (by stream time) a model ran on, and which the change gate held."""

    def __init__(self) -> None:
        self.frames: list[tuple[float, bool]] = []

    def __call__(self, camera: str, frames: tuple[Frame, ...], sent: list[bool]) -> None:
        self.frames.extend((f.pts, s) for f, s in zip(frames, sent, strict=True))

    def within(self, span: Span) -> tuple[int, int]:
        """(frames in ``span``, of them sent to the model)."""
        inside = [s for t, s in self.frames if span.start <= t <= span.end]
        return len(inside), sum(inside)


async def _replay(
    video: Path, queries: dict[str, str], base: dict[str, Any], memory: Path, progress: Callable[[float], None] | None,
    seconds: float,
) -> tuple[dict[str, list[Span]], str, str, _ModelFrames]:  # fmt: skip
    data = json.loads(json.dumps(base))  # a deep copy
    threshold = data.pop("threshold", 3.0)
    data["cameras"] = [{"id": "eval", "url": str(video)}]
    data["queries"] = [{"id": qid, "text": text, "threshold": threshold} for qid, text in queries.items()]
    data.setdefault("memory", {})["path"] = str(memory)
    data["mqtt"] = {"enabled": False}
    data["http"] = {"enabled": False}
    config = validate_config(data, "eval settings")
    spans: dict[str, list[Span]] = {qid: [] for qid in queries}

    async def collect(event: AlertEvent) -> None:
        alert = event.alert
        if alert.kind is AlertKind.END:
            spans[alert.query_id].append(Span(alert.start_pts, alert.end_pts))

    service = Service(config, retry=False, on_alert=collect)  # no extensions: a replay opens no port
    seen = _ModelFrames()
    service.on_model_frames(seen)
    if progress is None:
        report = await service.run()
    else:
        task = asyncio.create_task(service.run())
        while not task.done():
            await asyncio.wait([task], timeout=0.25)
            sched = service.scheduler
            if sched is not None and "eval" in sched.counters:
                progress(min(1.0, sched.counters["eval"].scored / max(1.0, seconds * config.cameras[0].fps)))
        report = task.result()
        progress(1.0)
    return spans, report.backend, report.backend_reason, seen


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
    gate = {"frames": 0, "to_model": 0, "events": 0, "events_reached": 0, "event_frames": 0, "event_frames_to_model": 0}
    for path in annotations:
        ann, ignored = load_annotation(path)
        video = (path.parent / ann.video).resolve()
        texts = list(dict.fromkeys([e.query for e in ann.events] + ann.distractor_queries))
        ids = {text: _slug(text) for text in texts}
        if len(set(ids.values())) != len(ids):
            raise ConfigError(f"annotation {path}: two queries map to the same id: {sorted(ids.values())}")
        with tempfile.TemporaryDirectory(prefix="feedwatch-eval-") as memory:
            report_progress = (lambda f, name=path.name: progress(name, f)) if progress else None
            spans, backend, reason, seen = await _replay(
                video, {ids[t]: t for t in texts}, base, Path(memory), report_progress, ann.seconds
            )
        gate["frames"] += len(seen.frames)
        gate["to_model"] += sum(s for _, s in seen.frames)
        for event in ann.events:
            inside, sent = seen.within(Span(event.start, event.end))
            gate["events"] += 1
            gate["events_reached"] += sent > 0
            gate["event_frames"] += inside
            gate["event_frames_to_model"] += sent
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
        videos.append({"annotation": str(path), "video": str(video), "seconds": ann.seconds, "ignored_fields": ignored})
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
        # Frames the model ran on; the rest were held by the change gate. Events "reached" had a frame scored.
        "model_frames": gate,
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
    for video in result["videos"]:
        if video["ignored_fields"]:
            lines.append(f"{video['annotation']}: ignored fields {', '.join(video['ignored_fields'])}")
    m = result["model_frames"]
    lines.append(
        f"model ran on {m['to_model']} of {m['frames']} frames; every event reached it: "
        f"{'yes' if m['events_reached'] == m['events'] else 'NO'} ({m['events_reached']} of {m['events']} events, "
        f"{m['event_frames_to_model']} of their {m['event_frames']} frames)"
    )
    if "note" in result:
        lines.append(f"note: {result['note']}")
    return "\n".join(lines)
