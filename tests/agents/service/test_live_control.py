"""Controlling a running service: arming a query over MQTT, and reloading its config file (SIGHUP, HTTP, CLI)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from agents import validate_config
from agents.bench.common import free_port
from tests.helpers import PERSON_CLIP, ROOT, SHORT_CLIP, Broker, Inbox, run_cli, scaled, served, wait_until
from tests.helpers import payload_json as _json

pytestmark = pytest.mark.slow


async def test_disarming_over_mqtt_ends_the_alert_and_stops_scoring(
    broker: Broker, inbox: Inbox, tmp_path: Path
) -> None:
    config = validate_config(
        {
            "cameras": [{"id": "lobby", "url": str(PERSON_CLIP), "realtime": True, "loop": True}],
            "queries": [{"id": "person", "text": "a person"}],
            "scorer": {"backend": "activity"},
            "memory": {"path": str(tmp_path / "memory")},
            "clips": {"enabled": False},
            "http": {"enabled": False},
            "mqtt": {"enabled": True, "port": broker.port, "prefix": "fw", "discovery_prefix": "ha", "commands": True},
        }
    )
    service, _ = served(config, retry=True)
    task = asyncio.create_task(service.run())
    try:
        switch = _json(await inbox.wait_for("ha/switch/feedwatch_fw_lobby_person_armed/config"))
        assert switch["command_topic"] == "fw/lobby/query/person/armed/set"
        assert switch["state_topic"] == "fw/lobby/query/person/armed"
        await inbox.wait_for("ha/switch/feedwatch_fw_all_person_armed/config")
        await inbox.wait_for("fw/lobby/query/person/armed", lambda m: m.payload == b"ON")
        new = _json(await inbox.wait_for("fw/lobby/query/person/event", lambda m: _json(m)["type"] == "new"))

        await inbox.client.publish("fw/lobby/query/person/armed/set", b"OFF", qos=1)
        end = await inbox.wait_for(
            "fw/lobby/query/person/event", lambda m: _json(m)["type"] == "end" and _json(m)["id"] == new["id"]
        )
        assert _json(end)["id"] == new["id"]
        await inbox.wait_for("fw/lobby/query/person/armed", lambda m: m.payload == b"OFF")
        assert _json(await inbox.wait_for("fw/commands/result"))["ok"] is True
        # The ended alert can be marked wrong over MQTT too.
        mark = json.dumps({"match": False, "reply_to": "fw/reply/mark"})
        await inbox.client.publish(f"fw/alerts/{new['id']}/feedback", mark, qos=1)
        marked = _json(await inbox.wait_for("fw/reply/mark"))
        assert marked["ok"] is True and marked["feedback"]["match"] is False

        # The camera goes on being read and its frames scored for nothing; the disarmed query costs nothing.
        frozen = service.query_frames().get("person", 0)
        scored = service.camera_reports()[0].scored
        await wait_until(lambda: service.camera_reports()[0].scored >= scored + 4, what="more frames of the camera")
        assert service.query_frames().get("person", 0) == frozen
        assert not [q for q in service.queries() if q.armed_on("lobby")]

        await inbox.client.publish("fw/all/query/person/armed/set", b"ON", qos=1)
        await inbox.wait_for("fw/lobby/query/person/armed", lambda m: m.payload == b"ON")
        await wait_until(lambda: service.query_frames().get("person", 0) > frozen, what="scoring to resume")
        await inbox.client.publish("fw/lobby/query/person/armed/set", b"maybe", qos=1)
        refused = await inbox.wait_for("fw/commands/result", lambda m: _json(m)["ok"] is False)
        assert "ON or OFF" in _json(refused)["error"]
    finally:
        service.stop()
        await asyncio.wait_for(task, scaled(30))


def _write(
    path: Path, cameras: list[dict[str, Any]], queries: list[dict[str, Any]], http_port: int, mqtt_port: int
) -> None:
    config = {
        "mqtt": {"enabled": True, "port": mqtt_port, "prefix": "fw", "discovery_prefix": "ha"},
        "cameras": cameras,
        "queries": queries,
        "scorer": {"backend": "activity"},
        "memory": {"path": str(path.parent / "memory")},
        "clips": {"enabled": False},
        "http": {"port": http_port},
    }
    path.write_text(json.dumps(config))  # JSON is YAML


async def test_reload_adds_and_removes_cameras_without_touching_the_others(
    broker: Broker, inbox: Inbox, tmp_path: Path
) -> None:
    port = free_port()
    cfg = tmp_path / "feedwatch.yaml"
    lobby = {"id": "lobby", "url": str(PERSON_CLIP), "realtime": True, "loop": True}
    hall = {"id": "hall", "url": str(SHORT_CLIP), "realtime": True, "loop": True}
    person = {"id": "person", "text": "a person"}
    _write(cfg, [lobby], [person], port, broker.port)
    env = {k: v for k, v in os.environ.items() if k != "FEEDWATCH_API_TOKEN"}
    proc = subprocess.Popen([sys.executable, "-m", "agents.cli", "run", "--config", str(cfg)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=scaled(30)) as client:

            async def cameras() -> dict[str, dict[str, Any]]:
                try:
                    return {c["id"]: c for c in (await client.get("/api/cameras")).json()}
                except httpx.HTTPError:
                    return {}

            state: dict[str, dict[str, Any]] = {}

            async def live(*ids: str) -> bool:
                state.update(await cameras())
                return all(state.get(i, {}).get("status") == "live" for i in ids) and set(state) >= set(ids)

            await _until(lambda: live("lobby"), "lobby live")
            before = (await cameras())["lobby"]

            # SIGHUP after adding a camera to the file: it comes live; lobby's reader never restarts.
            _write(cfg, [lobby, hall], [person], port, broker.port)
            proc.send_signal(signal.SIGHUP)
            await _until(lambda: live("lobby", "hall"), "hall live after SIGHUP")
            # Home Assistant learns of it; its query starts OFF.
            await inbox.wait_for("ha/binary_sensor/feedwatch_fw_hall_status/config", lambda m: m.payload != b"")
            await inbox.wait_for("fw/hall/query/person/state", lambda m: m.payload == b"OFF")

            async def lobby_went_on() -> bool:  # the same reader, still counting: a new one would start from 0
                return bool((await cameras())["lobby"]["sampled"] > before["sampled"] + 2)

            await _until(lobby_went_on, "lobby to go on sampling")
            assert (await cameras())["lobby"]["reconnects"] == before["reconnects"] == 0

            # An invalid file changes nothing, over HTTP and from the CLI, and says why.
            cfg.write_text(cfg.read_text().replace('"realtime": true, "loop": true}]', '"fps": -1}]'))
            refused = await client.post("/api/reload")
            assert refused.status_code == 422 and "nothing changed" in refused.json()["detail"]
            assert "fps" in refused.json()["detail"]
            cli = await asyncio.to_thread(run_cli, "reload", "--config", str(cfg), env=env)
            assert cli.returncode != 0 and "fps" in cli.stderr and "Traceback" not in cli.stderr
            assert set(await cameras()) == {"lobby", "hall"}

            # `feedwatch reload` applies a removed camera and a new query, and names what needs a restart.
            _write(cfg, [lobby], [person, {"id": "table", "text": "someone at the table"}], port, broker.port)
            text = cfg.read_text().replace('"clips": {"enabled": false}', '"clips": {"enabled": false, "pre_s": 2}')
            cfg.write_text(text)
            cli = await asyncio.to_thread(run_cli, "reload", "--config", str(cfg), env=env)
            assert cli.returncode == 0, cli.stderr
            plan = json.loads(cli.stdout)
            assert plan["cameras"]["removed"] == ["hall"] and plan["queries"]["set"] == ["table"]
            assert plan["restart_needed"] == ["clips"]
            assert set(await cameras()) == {"lobby"}
            assert (await cameras())["lobby"]["reconnects"] == 0
            await inbox.wait_for("ha/binary_sensor/feedwatch_fw_hall_status/config", lambda m: m.payload == b"")
            assert [q["id"] for q in (await client.get("/api/queries")).json()] == ["person", "table"]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=scaled(30))
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    assert proc.returncode == 0, err.decode()[-2000:]
    assert b"reload refused, nothing changed" in err


async def _until(check: Any, what: str, timeout: float = 40) -> None:
    deadline = asyncio.get_running_loop().time() + scaled(timeout)
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)
