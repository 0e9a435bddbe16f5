"""End to end: `feedwatch watch` on a real video publishes to a real mosquitto, read by a real client."""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
from pathlib import Path

import aiomqtt
import pytest

from tests.helpers import PERSON_CLIP, PERSON_TRUTH, ROOT, Broker, scaled

pytestmark = pytest.mark.slow


async def test_alerts_arrive_over_mqtt_with_query_ids_and_times(media: Path, broker: Broker, tmp_path: Path) -> None:
    received: list[aiomqtt.Message] = []
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="test-subscriber") as client:
        await client.subscribe("feedwatch/#", qos=1)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "agents.cli",
            "watch",
            str(PERSON_CLIP),
            "--query",
            "a person",
            "--query",
            "a car",
            "--threshold",
            "3",
            "--mqtt",
            f"127.0.0.1:{broker.port}",
            "--memory",
            str(tmp_path / "memory"),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )

        async def collect() -> None:
            async for message in client.messages:
                received.append(message)
                if message.topic.matches("feedwatch/available") and message.payload == b"offline":
                    return

        await asyncio.wait_for(collect(), scaled(60))
        _, stderr = await proc.communicate()
        assert proc.returncode == 0, stderr.decode()

    by_topic: dict[str, list[aiomqtt.Message]] = {}
    for m in received:
        by_topic.setdefault(str(m.topic), []).append(m)
    camera = "one-by-one-person-detection"
    events = [json.loads(m.payload) for m in by_topic[f"feedwatch/{camera}/query/a-person/event"]]
    ends = [e for e in events if e["type"] == "end"]
    truth = [(e["start"], e["end"]) for e in json.loads(PERSON_TRUTH.read_text())["events"]]
    assert len(ends) == len(truth)
    for (s, t), e in zip(truth, ends, strict=True):
        assert e["query_id"] == "a-person" and e["query"] == "a person" and e["camera"] == camera
        assert s - 1 <= e["start_pts"] and e["end_pts"] <= t + 1
        assert e["backend"] == "activity" and e["semantic"] is False
        assert e["end"] - e["start"] == pytest.approx(e["end_pts"] - e["start_pts"], abs=1e-3)
        assert Path(e["snapshot"]).is_file()
    news = [e for e in events if e["type"] == "new"]
    assert [e["id"] for e in news] == [e["id"] for e in ends]  # one stable id per alert
    # The distractor fires too with the activity scorer, and its events say why.
    car = [json.loads(m.payload) for m in by_topic[f"feedwatch/{camera}/query/a-car/event"]]
    assert car and all(e["semantic"] is False for e in car)
    # State follows the open alerts: ON at the first new, OFF when the last open one ends, retained (a next alert
    # may open while the last one's end waits for its clip: then it stays ON); the snapshot is a retained JPEG.
    states = [m.payload for m in by_topic[f"feedwatch/{camera}/query/a-person/state"]]
    assert states[0] == b"OFF" and states[-1] == b"OFF" and 1 <= states.count(b"ON") <= len(truth)
    after = states[states.index(b"ON") :]
    assert all(a != b for a, b in itertools.pairwise(after)), states  # then ON and OFF alternate
    assert all(m.retain is False for m in by_topic[f"feedwatch/{camera}/query/a-person/event"])
    snaps = by_topic[f"feedwatch/{camera}/query/a-person/snapshot"]
    assert bytes(snaps[-1].payload)[:2] == b"\xff\xd8"
    status = [json.loads(m.payload)["status"] for m in by_topic[f"feedwatch/{camera}/status"]]
    assert "live" in status and status[-1] == "ended"
    assert [m.payload for m in by_topic["feedwatch/available"]] == [b"online", b"offline"]

    # Retained state is what a late subscriber sees. The broker sends retained messages when the subscription is
    # made, so a marker published after subscribing arrives after all of them: no waiting for silence.
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="late-subscriber") as late:
        await late.subscribe(f"feedwatch/{camera}/#", qos=1)
        await late.subscribe("feedwatch/available", qos=1)
        await late.subscribe("test/marker", qos=1)
        await late.publish("test/marker", b"end", qos=1)
        seen: dict[str, bytes] = {}

        async def gather() -> None:
            async for m in late.messages:
                if str(m.topic) == "test/marker":
                    return
                seen[str(m.topic)] = bytes(m.payload)

        await asyncio.wait_for(gather(), scaled(10))
    assert seen["feedwatch/available"] == b"offline"
    assert seen[f"feedwatch/{camera}/query/a-person/state"] == b"OFF"
    assert f"feedwatch/{camera}/query/a-person/event" not in seen


async def test_run_shuts_down_cleanly_on_sigterm(media: Path, broker: Broker, tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        f"cameras:\n  - id: lobby\n    url: {PERSON_CLIP}\n    realtime: true\n    loop: true\n"
        "queries:\n  - id: person\n    text: a person\n"
        f"memory:\n  path: {tmp_path / 'memory'}\n"
        f"mqtt:\n  enabled: true\n  port: {broker.port}\n  prefix: fw\n"
    )
    received: list[tuple[str, bytes]] = []
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="sigterm-subscriber") as client:
        await client.subscribe("fw/#", qos=1)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agents.cli", "run", "--config", str(config), cwd=ROOT,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip

        async def until(topic: str, payload: bytes) -> None:
            async for m in client.messages:
                received.append((str(m.topic), bytes(m.payload)))
                if m.topic.matches(topic) and m.payload == payload:
                    return

        # The clip's first person walks in at 7 s: wait for that alert to open, then stop the service.
        await asyncio.wait_for(until("fw/lobby/query/person/state", b"ON"), scaled(30))
        proc.terminate()
        # The service stops on its own (its shutdown has a deadline of its own); these waits only bound the test.
        await asyncio.wait_for(until("fw/available", b"offline"), scaled(20))
        _, stderr = await asyncio.wait_for(proc.communicate(), scaled(20))
    assert proc.returncode == 0, stderr.decode()
    log = stderr.decode()[-2000:]
    assert "did not finish within" not in log, log  # no stage had to be cancelled at the shutdown deadline
    # The open alert was ended (and remembered) before going offline.
    events = [json.loads(p) for t, p in received if t == "fw/lobby/query/person/event"]
    assert [e["type"] for e in events][-1] == "end", (events, log)
    off = received.index(
        ("fw/lobby/query/person/state", b"OFF"), received.index(("fw/lobby/query/person/state", b"ON"))
    )
    assert off < received.index(("fw/available", b"offline")), (received, log)
    status = [json.loads(p)["status"] for t, p in received if t == "fw/lobby/status"]
    assert status[-1] == "offline", (status, log)
    from agents import MomentMemory

    with MomentMemory(tmp_path / "memory", read_only=True) as memory:
        assert len(memory.search(kind="alert")) == 1, log
        assert memory.search(kind="context"), "the first frame at least is kept as context"
