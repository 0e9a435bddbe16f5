"""Clips through the whole service: a real RTSP camera, the HTTP API with range requests, failures, retention."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

import av
import httpx
import pytest

from agents import Service
from agents.alerting import AlertKind
from agents.config import FeedwatchConfig, validate_config
from agents.memory.records import Moment
from agents.memory.retention import prune
from agents.memory.store import MomentMemory
from agents.service import AlertEvent
from tests.helpers import PERSON_CLIP, run_cli, scaled, served, wait_until
from tests.streamer.rtsp import PerlRtspServer


def _replayed(memory: Path) -> FeedwatchConfig:
    """The person clip replayed as fast as it decodes (recorded footage), with the activity scorer."""
    return validate_config({
        "cameras": [{"id": "lobby", "url": str(PERSON_CLIP)}],
        "queries": [{"id": "person", "text": "a person"}],
        "scorer": {"backend": "activity"},
        "memory": {"path": str(memory)},
        "http": {"enabled": False},
    })  # fmt: skip


@pytest.mark.slow
async def test_an_rtsp_alert_has_a_clip_from_a_keyframe_pre_s_before_to_post_s_after(
    rtsp: PerlRtspServer, tmp_path: Path
) -> None:
    pre, post = 3.0, 4.0
    config = validate_config({
        "cameras": [{"id": "lobby", "url": rtsp.url, "fps": 2}],
        "queries": [{"id": "person", "text": "a person"}],
        "scorer": {"backend": "activity"},
        "memory": {"path": str(tmp_path / "memory")},
        "clips": {"pre_s": pre, "post_s": post},
        "http": {"port": 0},
    })  # fmt: skip
    ends: list[AlertEvent] = []
    news: dict[str, float] = {}

    async def on_alert(event: AlertEvent) -> None:
        if event.alert.kind is AlertKind.NEW:  # how far the camera's stream had got when it went out
            newest = service.cameras["lobby"].latest()
            news[event.alert.id] = newest.wall if newest is not None else float("inf")
        if event.alert.kind is AlertKind.END:
            ends.append(event)

    service, http = served(config, retry=True, on_alert=on_alert)
    task = asyncio.create_task(service.run())
    try:
        await wait_until(lambda: "lobby" in service.cameras and service.cameras["lobby"].ring is not None, 30)
        ring = service.cameras["lobby"].ring
        assert ring is not None
        await wait_until(lambda: ring.oldest is not None, scaled(30), "the first packets")
        first = ring.oldest
        assert first is not None

        def covered() -> AlertEvent | None:  # an alert whose pre-roll the ring was already holding
            return next((e for e in ends if e.alert.start_wall - pre >= first), None)

        await wait_until(covered, scaled(90), "an ended alert")
        event = covered()
        assert event is not None
        alert, payload = event.alert, event.payload
        assert payload["clip"] and payload["clip_url"] == f"/api/alerts/{alert.id}/clip.mp4"
        # The new event went out at once, before the stream reached post_s past the alert's start (the end waits
        # for those seconds: its clip needs them); stream time, not the test machine's clock.
        assert news[alert.id] < alert.start_wall + post
        info: dict[str, Any] = payload["clip_info"]  # type: ignore[assignment]
        assert info["start"] <= alert.start_wall - pre + 1e-3  # a keyframe no later than pre_s before the start
        assert info["end"] >= alert.end_wall + post - 1.0  # through post_s after the end, within one GOP (1 s)
        assert info["gaps"] == []
        path = Path(str(payload["clip"]))
        with av.open(str(path)) as clip:
            video = clip.streams.video[0]
            assert (video.codec_context.width, video.codec_context.height) == (768, 432)  # the source's
            assert video.average_rate == 10  # the source's frame rate, not the 2 fps sampled
            frames = list(clip.decode(video))
        assert frames[0].key_frame and frames[0].time == 0.0
        assert abs(frames[-1].time - (info["end"] - info["start"])) < 0.5
        moment = service.memory.get(alert.id)
        assert moment is not None and moment.clip == str(path) and moment.clip_info == info
        # The same clip over HTTP, whole and by range.
        assert http is not None and http.bound_port is not None
        data = path.read_bytes()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http.bound_port}") as client:
            whole = await client.get(payload["clip_url"])
            assert whole.status_code == 200 and whole.headers["content-type"] == "video/mp4"
            assert whole.content == data and whole.headers["accept-ranges"] == "bytes"
            part = await client.get(payload["clip_url"], headers={"Range": "bytes=1000-1999"})
            assert part.status_code == 206
            assert part.headers["content-range"] == f"bytes 1000-1999/{len(data)}"
            assert part.content == data[1000:2000]
            listed = (await client.get("/api/alerts", params={"camera": "lobby"})).json()
            shown = next(m for m in listed["items"] if m["id"] == alert.id)
            assert shown["clip_url"] == payload["clip_url"] and shown["clip_info"] == info
            missing = await client.get("/api/alerts/0123456789abcdef/clip.mp4")
            assert missing.status_code == 404
            # Any range still kept, straight from the ring.
            since = alert.start_wall
            ranged = await client.get("/api/cameras/lobby/clip.mp4", params={"since": since, "until": since + 6})
            assert ranged.status_code == 200 and ranged.headers["content-type"] == "video/mp4"
            (tmp_path / "range.mp4").write_bytes(ranged.content)
            with av.open(str(tmp_path / "range.mp4")) as clip:
                frames = list(clip.decode(clip.streams.video[0]))
            assert frames[0].key_frame and 5.5 <= frames[-1].time <= 7.5
            # Asked about the alert, the answer sees its clip at qa.clip_fps (4), not the 1 fps stills.
            asked = await client.post("/api/ask", json={"question": "what happened?", "alert": alert.id, "limit": 8})
            assert asked.status_code == 200, asked.text
            answer = asked.json()
            assert answer["candidates"]["clip"] >= 4 * (info["end"] - info["start"]) - 2
            assert {c["source"] for c in answer["citations"]} == {"clip"}
            assert all(c["moment_id"] == alert.id and c["thumbnail_url"] for c in answer["citations"])
            unknown = await client.post("/api/ask", json={"question": "what happened?", "alert": "nope"})
            assert unknown.status_code == 404
    finally:
        service.stop()
        await asyncio.wait_for(task, scaled(30))


async def test_a_clip_that_cannot_be_written_costs_the_clip_not_the_alert(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    memory = tmp_path / "memory"
    config = _replayed(memory)
    ends: list[AlertEvent] = []

    async def on_alert(event: AlertEvent) -> None:
        if event.alert.kind is AlertKind.END:
            ends.append(event)

    memory.mkdir()
    (memory / "clips").write_bytes(b"")  # a file where the clips folder should be: every clip write fails
    with caplog.at_level(logging.ERROR):
        await Service(config, retry=False, on_alert=on_alert).run()
    assert any("cannot create" in r.getMessage() and "clips" in r.getMessage() for r in caplog.records)
    assert len(ends) >= 5  # every alert still went out
    assert all(e.payload["clip"] is None and e.payload["clip_url"] is None for e in ends)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    for event in ends:
        assert any("lobby" in line and event.alert.id in line and "not written" in line for line in errors)
    with MomentMemory(memory, read_only=True) as stored:
        assert {m.id for m in stored.search(kind="alert", limit=100)} == {e.alert.id for e in ends}


@pytest.mark.slow
async def test_a_file_replayed_fast_gets_its_clips_cut_from_the_file_and_exported(tmp_path: Path) -> None:
    memory = tmp_path / "memory"
    config = _replayed(memory)
    service = Service(config, retry=False)
    await service.run()
    assert service.cameras["lobby"].ring is None  # nothing kept in memory: the file is the archive
    with MomentMemory(memory, read_only=True) as stored:
        moments = stored.search(kind="alert", limit=100)
    assert len(moments) >= 5
    for m in moments:
        assert m.clip is not None and m.clip_info is not None
        assert float(m.clip_info["start"]) <= m.start_wall - 5.0 + 1e-3 or m.start_pts < 5.0  # type: ignore[arg-type]
        with av.open(m.clip) as clip:
            first = next(clip.decode(clip.streams.video[0]))
            assert first.key_frame
    # `feedwatch clip` exports one alert's clip as it is, and cuts any range the clips on disk cover.
    chosen = moments[-1]
    assert chosen.clip is not None and chosen.clip_info is not None
    out = tmp_path / "alert.mp4"
    done = run_cli("clip", chosen.id, "-o", str(out), "--memory", str(memory))
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == Path(chosen.clip).read_bytes()
    since = float(chosen.clip_info["start"]) + 2.0  # type: ignore[arg-type]
    cut = tmp_path / "range.mp4"
    done = run_cli("clip", "--camera", "lobby", "--since", str(since), "--until", str(since + 4), "-o", str(cut),
                   "--memory", str(memory))  # fmt: skip
    assert done.returncode == 0, done.stderr
    with av.open(str(cut)) as clip:
        frames = list(clip.decode(clip.streams.video[0]))
    assert frames[0].key_frame and 3.5 <= frames[-1].time <= 6.5
    nothing = run_cli("clip", "--camera", "lobby", "--since", "1000", "--until", "1010", "--memory", str(memory))
    assert (
        nothing.returncode == 1 and "nothing of camera 'lobby'" in nothing.stderr and "Traceback" not in nothing.stderr
    )
    # `feedwatch ask --alert` answers from that alert's clip, sampled at 4 fps.
    asked = run_cli("ask", "what happened?", "--alert", chosen.id, "--memory", str(memory), "--json", "--limit", "6")
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    span = float(chosen.clip_info["end"]) - float(chosen.clip_info["start"])  # type: ignore[arg-type]
    assert answer["candidates"]["clip"] >= 4 * span - 2
    assert len(answer["citations"]) == 6 and {c["source"] for c in answer["citations"]} == {"clip"}
    assert chosen.id in answer["answer"]


def test_retention_forgets_clips_with_their_moments(tmp_path: Path) -> None:
    with MomentMemory(tmp_path / "memory") as memory:
        clip = memory.clips / "old.mp4"
        clip.write_bytes(b"\0" * 100_000)
        memory.add(Moment("old", "lobby", 1000.0, 1010.0, 0.0, 10.0, "activity", False, 4.0, clip=str(clip)))
        memory.add(Moment("new", "lobby", time.time(), time.time(), 0.0, 0.0, "activity", False, 4.0))
        footprints = dict(memory.footprints())
        assert footprints["old"] >= 100_000  # the clip counts against memory.max_mb
        assert prune(memory, max_age_s=86400, max_bytes=1 << 30) == 1
        assert not clip.exists() and memory.get("old") is None and memory.get("new") is not None
