"""Cameras that go away: the on_offline hook, and outages as the APIs report them (HTTP, MQTT, metrics)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import pytest

from agents import validate_config
from agents.bench.common import free_port
from agents.bench.rtsp import PerlRtspServer, make_camera_clip
from agents.config import BufferSettings, CameraConfig
from agents.service.cameras import Camera
from agents.service.hooks import OfflineHooks
from streamer.reader import Outage
from tests.helpers import Broker, scaled, served, wait_until

# The hook the tests run: prints what it was given and leaves it in a file (its first argument).
HOOK = (
    "import json, os, sys\n"
    "env = {k: v for k, v in os.environ.items() if k.startswith('FEEDWATCH_')}\n"
    "print('power-cycling port 3 for', env['FEEDWATCH_CAMERA'])\n"
    "with open(sys.argv[1], 'a') as f: f.write(json.dumps(env) + '\\n')\n"
)


def _runs(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _camera(hook: dict[str, Any] | None) -> tuple[Camera, CameraConfig]:
    url = "rtsp://admin:s3cret@127.0.0.1:9/cam"
    config = CameraConfig.model_validate({"id": "gate", "url": url, "on_offline": hook})
    camera = Camera(config, BufferSettings(), analysis_size=224, retry=True, on_status=lambda c, s: None)
    return camera, config


def _away(camera: Camera, since: float, cause: str = "connection refused") -> Outage:
    outage = Outage(camera.id, since, None, cause)
    camera.reader.outage = outage  # what the reader records when the camera goes away
    return outage


async def test_the_hook_runs_once_the_camera_has_been_away_long_enough(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agents.service.hooks")
    out = tmp_path / "runs.jsonl"
    camera, config = _camera({"after_s": 0.5, "cooldown_s": 600, "command": [sys.executable, "-c", HOOK, str(out)]})
    hooks = OfflineHooks({"gate": camera}, {"gate": config})
    try:
        started = time.time()
        outage = _away(camera, started)
        hooks.outage(outage)
        hooks.outage(outage)  # the same outage again (a flapping camera stays in one outage): still one wait
        await wait_until(lambda: _runs(out), 10, "the hook to run")
        assert time.time() - started >= 0.5
        (env,) = _runs(out)
        assert env["FEEDWATCH_CAMERA"] == "gate"
        assert env["FEEDWATCH_CAMERA_SOURCE"] == "rtsp://admin:***@127.0.0.1:9/cam"  # never the password
        assert env["FEEDWATCH_OUTAGE_CAUSE"] == "connection refused" and int(env["FEEDWATCH_AWAY_S"]) >= 0
        await wait_until(lambda: "on_offline command finished" in caplog.text, 10, "the hook to finish")
        assert "camera gate on_offline: power-cycling port 3 for gate" in caplog.text  # its output, logged
        # Still away: the cooldown holds the next run back and says so.
        await wait_until(lambda: "next run in" in caplog.text, 10, "the cooldown line")
        # The camera comes back, then goes away again within the cooldown: no second run.
        camera.reader.outage = Outage("gate", outage.start, time.time(), outage.cause)
        second = _away(camera, time.time())
        caplog.clear()
        hooks.outage(second)
        await wait_until(lambda: "next run in" in caplog.text, 10, "the cooldown line for the second outage")
        assert len(_runs(out)) == 1 and camera.hook_runs == 1
    finally:
        await hooks.close()


async def test_a_camera_that_stays_away_gets_the_hook_again_after_each_cooldown(tmp_path: Path) -> None:
    out = tmp_path / "runs.jsonl"
    camera, config = _camera({"after_s": 0.2, "cooldown_s": 0.3, "command": [sys.executable, "-c", HOOK, str(out)]})
    hooks = OfflineHooks({"gate": camera}, {"gate": config})
    try:
        hooks.outage(_away(camera, time.time()))
        await wait_until(lambda: len(_runs(out)) >= 3, 20, "three runs")
    finally:
        await hooks.close()
    assert camera.hook_runs >= 3


async def test_a_camera_back_before_after_s_never_runs_the_hook(tmp_path: Path) -> None:
    out = tmp_path / "runs.jsonl"
    camera, config = _camera({"after_s": 0.3, "command": [sys.executable, "-c", HOOK, str(out)]})
    hooks = OfflineHooks({"gate": camera}, {"gate": config})
    outage = _away(camera, time.time())
    hooks.outage(outage)
    camera.reader.outage = Outage("gate", outage.start, time.time(), outage.cause)  # back at once
    await wait_until(lambda: not hooks._tasks, 10, "the wait to end")
    assert not _runs(out) and camera.hook_runs == 0


async def test_a_hook_that_hangs_is_killed_and_one_that_cannot_start_is_a_clear_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agents.service.hooks")
    slow, slow_cfg = _camera({"after_s": 0.1, "timeout_s": 0.5, "command": ["sleep", "60"]})
    hooks = OfflineHooks({"gate": slow}, {"gate": slow_cfg})
    try:
        hooks.outage(_away(slow, time.time()))
        await wait_until(lambda: "ran past 0.5 s and was killed" in caplog.text, 15, "the hung hook to be killed")
    finally:
        await hooks.close()
    missing, missing_cfg = _camera({"after_s": 0.1, "command": [str(tmp_path / "no-such-script")]})
    hooks = OfflineHooks({"gate": missing}, {"gate": missing_cfg})
    try:
        hooks.outage(_away(missing, time.time()))
        await wait_until(lambda: "cannot run its on_offline command" in caplog.text, 10, "the error line")
    finally:
        await hooks.close()
    assert "No such file or directory" in caplog.text and "Traceback" not in caplog.text


@pytest.mark.slow
async def test_an_outage_is_counted_published_and_served(
    tmp_path: Path, broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="streamer")
    caplog.set_level(logging.INFO)
    clip = make_camera_clip(tmp_path / "cam.mp4", fps=25, gop=25, seconds=10)
    rtsp = PerlRtspServer(clip, wait_s=scaled(30))
    rtsp.start()
    out = tmp_path / "runs.jsonl"
    hook = {"after_s": 1, "command": [sys.executable, "-c", HOOK, str(out)]}
    config = validate_config(
        {
            "cameras": [{"id": "porch", "url": rtsp.url, "fps": 2, "on_offline": hook}],
            "queries": [{"id": "motion", "text": "anything moves"}],
            "scorer": {"backend": "activity"},
            "memory": {"path": str(tmp_path / "memory")},
            "mqtt": {"enabled": True, "port": broker.port},
            "http": {"port": free_port()},
        }
    )
    service, http = served(config, retry=True)
    assert http is not None
    events: list[dict[str, Any]] = []
    try:
        async with aiomqtt.Client("127.0.0.1", broker.port, identifier="test-outage") as client:
            await client.subscribe("feedwatch/porch/outage", qos=1)

            async def listen() -> None:
                async for message in client.messages:
                    events.append(json.loads(bytes(message.payload)))

            listener = asyncio.create_task(listen())
            task = asyncio.create_task(service.run())
            try:
                await wait_until(lambda: service.cameras and service.camera_reports()[0].status == "live", 30, "live")
                rtsp.kill_publisher()
                await wait_until(lambda: _runs(out), 20, "the hook to run")
                rtsp.start_publisher(wait=False)
                await wait_until(lambda: len(events) == 2, 30, "the offline and back events")
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http.bound_port}") as api:
                    (camera,) = (await api.get("/api/cameras")).json()
                    metrics = (await api.get("/metrics")).text
            finally:
                service.stop()
                await asyncio.wait_for(task, scaled(30))
                listener.cancel()
    finally:
        rtsp.stop()
    offline, back = events
    assert offline["event"] == "offline" and offline["end"] is None and "stalled" in offline["cause"]
    assert back["event"] == "back" and back["start"] == offline["start"] and back["duration_s"] > 1.0
    assert camera["status"] == "live" and camera["outages"] == 1 and camera["transport"] == "auto"
    assert camera["last_outage"] == {k: back[k] for k in ("camera", "start", "end", "duration_s", "cause")}
    assert camera["offline_s"] >= back["duration_s"] - 0.5
    assert 'feedwatch_camera_outages_total{camera="porch"} 1.0' in metrics
    assert 'feedwatch_camera_hook_runs_total{camera="porch"} 1.0' in metrics
    offline_s = next(line for line in metrics.splitlines() if line.startswith("feedwatch_camera_offline_seconds_total"))
    assert float(offline_s.split()[-1]) >= back["duration_s"] - 0.5
    assert "camera porch on_offline: power-cycling port 3 for porch" in caplog.text
