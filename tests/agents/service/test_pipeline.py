"""The real pipeline (PyAV reader, buffer, scheduler, activity scorer, alert policy, memory) on a real clip."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from agents import Alert, AlertEvent, AlertKind, Answer, Asker, MomentMemory, Service, validate_config
from tests.helpers import PERSON_CLIP, PERSON_TRUTH, scaled, wait_until

pytestmark = pytest.mark.slow


def _truth() -> list[tuple[float, float]]:
    data = json.loads(PERSON_TRUTH.read_text())
    return [(e["start"], e["end"]) for e in data["events"] if e["query"] == "a person"]


async def _watch(tmp_path: Path, **scorer: object) -> tuple[list[Alert], Service]:
    config = validate_config(
        {
            "cameras": [{"id": "lobby", "url": str(PERSON_CLIP)}],
            "queries": [{"id": "person", "text": "a person"}, {"id": "car", "text": "a car", "threshold": 4}],
            "scorer": {"backend": "activity", **scorer},
            "memory": {"path": str(tmp_path / "memory")},
        }
    )
    alerts: list[Alert] = []

    async def collect(event: AlertEvent) -> None:
        alerts.append(event.alert)

    service = Service(config, retry=False, on_alert=collect)
    report = await service.run()
    assert report.backend == "activity"
    assert report.cameras[0].status == "ended"
    assert report.cameras[0].scored == report.cameras[0].sampled
    return alerts, service


async def test_activity_alerts_cover_every_event_once(media: Path, tmp_path: Path) -> None:
    alerts, _ = await _watch(tmp_path)
    ends = [a for a in alerts if a.kind is AlertKind.END and a.query_id == "person"]
    truth = _truth()
    for start, end in truth:
        overlapping = [a for a in ends if a.start_pts <= end and a.end_pts >= start]
        assert len(overlapping) == 1, f"event {start}-{end}s: alerts {[(a.start_pts, a.end_pts) for a in ends]}"
    for a in ends:
        # Ground truth edges are +-1 s.
        assert any(s - 1 <= a.start_pts and a.end_pts <= e + 1 for s, e in truth), (a.start_pts, a.end_pts)
        assert a.backend == "activity" and a.semantic is False
        assert a.snapshot_path is not None and Path(a.snapshot_path).is_file()
    # The activity scorer ignores the text: the distractor fires too, and says it is not semantic.
    assert any(a.query_id == "car" for a in alerts)


async def test_moments_are_remembered_and_answerable(media: Path, tmp_path: Path) -> None:
    alerts, _ = await _watch(tmp_path)
    ends = [a for a in alerts if a.kind is AlertKind.END]
    with MomentMemory(tmp_path / "memory", read_only=True) as memory:
        assert len(memory.search(kind="alert", limit=100)) == len(ends)
        person = memory.search(query_id="person", limit=100, newest_first=False)
        assert [round(m.start_pts) for m in person] == [round(a.start_pts) for a in ends if a.query_id == "person"]
        asker = Asker(memory)
        answer = await asker.ask("when was a person here?")
        recent = await asker.ask("was a person here in the last 10 minutes?", limit=20)
        # "Yesterday" as seen from the first remembered moment: a run that straddles midnight must not count.
        first = datetime.fromtimestamp(min(m.start_wall for m in person)).astimezone()
        old = await asker.ask("was a person on the lobby camera yesterday?", now=first)
        elsewhere: Answer = await asker.ask("a person on the garage camera")
    assert len([c for c in recent.citations if "a person" in c.queries.values()]) == 6
    assert recent.filters["since"] is not None and recent.filters["camera"] is None
    assert old.filters["camera"] == "lobby" and not old.citations and "Nothing is remembered on lobby" in old.text
    assert elsewhere.filters["camera"] is None  # no such camera: the phrase stays part of the question
    assert answer.citations
    assert all("a person" in c.queries.values() for c in answer.citations)
    assert "No answering model is configured" in answer.text
    assert "Semantic search needs an embedding model" in answer.text


async def test_standing_queries_change_at_run_time() -> None:
    import asyncio

    import numpy as np
    from numpy.typing import NDArray

    from agents.alerting import Scheduler
    from agents.config import AlertSettings
    from agents.scoring import Query
    from agents.scoring.activity import ActivityScorer
    from streamer import Frame, FrameBuffer, OverflowPolicy

    buf = FrameBuffer("lobby", max_seconds=600, max_bytes=10**9, policy=OverflowPolicy.BLOCK)
    events: list[Alert] = []

    async def collect(alert: object) -> None:
        if isinstance(alert, Alert):
            events.append(alert)

    scheduler = Scheduler(ActivityScorer(), {"lobby": buf}, [Query("person", "a person")], AlertSettings(), collect)
    task = asyncio.create_task(scheduler.run())
    rng = np.random.default_rng(0)
    background = rng.integers(90, 110, (126, 224, 3), dtype=np.uint8)
    busy = background.copy()
    busy[20:100, 60:160] = 250  # someone in view
    seq = 0

    async def feed(image: NDArray[np.uint8], n: int) -> None:
        nonlocal seq
        for _ in range(n):
            await buf.put(Frame("lobby", seq, float(seq), 1000.0 + seq, image))
            scheduler.notify()
            seq += 1
        await wait_until(lambda: buf.consumed_seq >= seq - 1, what="the scheduler to consume the frames")

    await feed(background, 10)
    await feed(busy, 10)
    assert [(a.query_id, a.kind) for a in events] == [("person", AlertKind.NEW)]
    scheduler.add_query(Query("visitor", "a visitor"))
    await feed(background, 10)
    await feed(busy, 10)
    assert await scheduler.remove_query("person")  # its open alert is ended, not dropped
    assert not await scheduler.remove_query("person")
    await buf.close()
    scheduler.notify()
    await asyncio.wait_for(task, scaled(5))
    person = [a.kind for a in events if a.query_id == "person"]
    visitor = [a for a in events if a.query_id == "visitor"]
    assert person == [AlertKind.NEW, AlertKind.END, AlertKind.NEW, AlertKind.END]
    assert [a.kind for a in visitor] == [AlertKind.NEW, AlertKind.END]
    assert visitor[0].start_pts == 30.0  # from its first window on, not before
