"""Marks on alerts: stored with the moment over HTTP, reported by ``eval --feedback``, and, with embeddings, used to
hold back alerts that look like a rejected one."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

import httpx
import numpy as np
import pytest

from agents import AlertEvent, Service, validate_config
from agents.alerting import Alert, AlertKind
from agents.alerting.feedback import FeedbackGate
from agents.bench.common import free_port
from agents.config import EmbeddingSettings
from agents.memory.store import MomentMemory
from agents.models.random_init import build_random_clip
from agents.scoring import Query, WindowScores
from agents.scoring.activity import ActivityScorer
from agents.scoring.embedding import EmbeddingScorer
from streamer.frames import Window
from tests.helpers import PERSON_CLIP, run_cli, scaled, served, wait_until


def _config(tmp_path: Path, **camera: object) -> dict[str, object]:
    return {
        "cameras": [{"id": "lobby", "url": str(PERSON_CLIP), **camera}],
        "queries": [{"id": "person", "text": "a person"}],
        "scorer": {"backend": "activity"},
        "memory": {"path": str(tmp_path / "memory")},
        "clips": {"enabled": False},
        "http": {"enabled": False},
    }


@pytest.mark.slow
async def test_marks_are_stored_and_reported_per_query(tmp_path: Path) -> None:
    await Service(validate_config(_config(tmp_path)), retry=False).run()  # the clip's visits, remembered
    with MomentMemory(tmp_path / "memory", read_only=True) as memory:
        alerts = [m.id for m in memory.iter_all() if m.kind == "alert"]
    assert len(alerts) >= 3
    live = {**_config(tmp_path, realtime=True, loop=True), "http": {"port": free_port()}}
    service, http = served(validate_config(live), retry=True)
    task = asyncio.create_task(service.run())
    try:
        assert http is not None
        await wait_until(lambda: http.bound_port is not None or task.done(), what="the HTTP server")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http.bound_port}", timeout=scaled(30)) as client:
            for alert_id, match in zip(alerts[:3], [False, False, True], strict=True):
                reply = await client.post(f"/api/alerts/{alert_id}/feedback", json={"match": match})
                assert reply.status_code == 200, reply.text
                assert reply.json()["query_id"] == "person" and reply.json()["match"] is match
            assert (
                await client.post("/api/alerts/0123456789abcdef/feedback", json={"match": False})
            ).status_code == 404
            assert (await client.post(f"/api/alerts/{alerts[0]}/feedback", json={"match": "no"})).status_code == 422
            # A second mark replaces the first.
            assert (await client.post(f"/api/alerts/{alerts[1]}/feedback", json={"match": False})).status_code == 200
    finally:
        service.stop()
        await asyncio.wait_for(task, scaled(30))
    with MomentMemory(tmp_path / "memory", read_only=True) as memory:
        marks = {m.moment_id: m.match for m in memory.feedback()}
    assert marks == {alerts[0]: False, alerts[1]: False, alerts[2]: True}

    result = await asyncio.to_thread(run_cli, "eval", "--feedback", "--memory", str(tmp_path / "memory"), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["queries"]["person"] == {"marked": 3, "right": 1, "wrong": 2, "precision": 0.333}
    text = await asyncio.to_thread(run_cli, "eval", "--feedback", "--memory", str(tmp_path / "memory"))
    assert "person" in text.stdout and "0.33" in text.stdout


def _alert(alert_id: str, kind: AlertKind, embedding: list[float]) -> Alert:
    return Alert(alert_id, kind, "lobby", "cat", "a cat", 0, 1, 0, 1, 4.0, 0.5, "embedding", True,
                 peak_embedding=np.asarray(embedding, np.float32))  # fmt: skip


async def test_an_alert_like_a_rejected_one_is_held_back() -> None:
    gate = FeedbackGate(similarity=0.9)
    passed: list[Alert] = []

    async def out(event: Alert) -> None:
        passed.append(event)

    send = gate.wrap(out)
    gate.learn("cat", False, np.asarray([1.0, 0.0, 0.0], np.float32))  # the neighbour's cat: wrong
    gate.learn("cat", True, np.asarray([0.0, 1.0, 0.0], np.float32))  # our cat: right
    for kind in (AlertKind.NEW, AlertKind.UPDATE, AlertKind.END):
        await send(_alert("neighbour", kind, [0.99, 0.1, 0.0]))  # like the rejected one: every event held
        await send(_alert("ours", kind, [0.1, 0.99, 0.0]))  # like the confirmed one
        await send(_alert("new-thing", kind, [0.0, 0.0, 1.0]))  # like neither
    assert [a.id for a in passed] == ["ours", "new-thing"] * 3
    assert gate.held_back == 1
    # Other queries' alerts are not judged by the cat's marks.
    other = Alert("x", AlertKind.NEW, "lobby", "door", "a door", 0, 1, 0, 1, 4.0, 0.5, "embedding", True,
                  peak_embedding=np.asarray([1.0, 0.0, 0.0], np.float32))  # fmt: skip
    assert not gate.holds_back(other)


class ActivityWithImageEmbeddings(ActivityScorer):
    """The real activity scorer's scores (which alert on the clip), with each frame's embedding from a real (random
    weight) CLIP image tower: what the embedding backend gives the service, on a clip where it surely alerts."""

    def __init__(self, clip: EmbeddingScorer) -> None:
        super().__init__()
        self.clip = clip

    def score(self, window: Window, queries: list[Query]) -> WindowScores:
        scores = super().score(window, queries)
        assert self.clip.embedder is not None
        vectors = self.clip.embedder.embed_images([f.image for f in window.frames])
        return dataclasses.replace(scores, embeddings=vectors)


@pytest.mark.slow
async def test_the_service_holds_back_alerts_like_ones_marked_wrong(tmp_path: Path) -> None:
    clip = EmbeddingScorer(EmbeddingSettings(model=str(build_random_clip(tmp_path / "clip"))))

    async def replay(memory: str, reject_first: bool) -> tuple[list[str], int]:
        """The clip once: the alerts published (``new`` events) and how many were held back."""
        config = validate_config({**_config(tmp_path), "memory": {"path": str(tmp_path / memory)}})
        published: list[str] = []
        service: Service

        async def listen(event: AlertEvent) -> None:
            alert = event.alert
            if alert.kind is AlertKind.NEW:
                published.append(alert.id)
            if reject_first and alert.kind is AlertKind.END and len(published) == 1:
                # Marked wrong as it ends, through the port the HTTP and MQTT marks go through.
                assert await service.feedback(alert.id, False) is not None

        service = Service(config, retry=False, on_alert=listen, scorer=ActivityWithImageEmbeddings(clip))
        await service.run()
        assert service._run is not None
        return published, service._run.gate.held_back

    unmarked, none_held = await replay("plain", reject_first=False)
    assert len(unmarked) >= 4 and none_held == 0  # the clip's visits, all published
    # The first alert marked wrong: later ones whose peak frames look like it are held back at once...
    after_mark, held = await replay("marked", reject_first=True)
    assert held >= 1 and len(after_mark) + held == len(unmarked)
    with MomentMemory(tmp_path / "marked", read_only=True) as memory:
        (mark,) = memory.feedback()
    assert mark.moment_id == after_mark[0] and mark.vector is not None and not mark.match
    # ... and after a restart the mark comes back from the memory: the first alert too is held back now.
    again, held_again = await replay("marked", reject_first=False)
    assert held_again >= held + 1 and len(again) + held_again == len(unmarked)
