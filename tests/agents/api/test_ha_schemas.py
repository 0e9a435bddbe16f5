"""Home Assistant discovery payloads, validated by Home Assistant's own MQTT platform schemas.

``homeassistant`` cannot share the project's venv (it pins older httpx, urllib3, PyYAML), so it lives in a side
venv, ``.venv-ha``, that ``.ci/run`` installs from ``tests/ha-requirements.txt``; the check runs there
(``tests/agents/api/ha_check.py``). Without that venv the test is skipped and says how to get it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from agents.api.discovery import HomeAssistantDiscovery
from agents.scoring import Query
from streamer.transport.mqtt import MqttPublisher, MqttSettings
from tests.helpers import ROOT

HA_PYTHON = Path(os.environ.get("FEEDWATCH_HA_PYTHON", ROOT / ".venv-ha" / "bin" / "python"))


class RecordingPublisher(MqttPublisher):
    """The real publisher's topics and settings; what it would publish is kept instead of sent."""

    def __init__(self, node: str | None = None) -> None:
        super().__init__(MqttSettings(prefix="fw", node=node))
        self.sent: dict[str, Any] = {}

    def publish(self, topic: str, payload: str | bytes, **kwargs: Any) -> None:
        self.sent[topic] = payload


def _configs(commands: bool, node: str | None = None) -> list[dict[str, Any]]:
    publisher = RecordingPublisher(node)
    queries = [Query("person", "a person"), Query("door", "the door opens", cameras=("lobby",), armed=False)]
    HomeAssistantDiscovery(publisher, "homeassistant").publish(["lobby", "yard"], queries, commands=commands)
    return [{"topic": t, "config": json.loads(p)} for t, p in publisher.sent.items() if p]


def test_discovery_payloads_pass_home_assistants_schemas() -> None:
    if not HA_PYTHON.is_file():
        pytest.skip(f"no Home Assistant venv at {HA_PYTHON}: make it as .ci/run does (tests/ha-requirements.txt)")
    configs = _configs(commands=True)
    platforms = {c["topic"].split("/")[1] for c in configs}
    assert platforms == {"binary_sensor", "image", "switch"}
    assert sum(c["topic"].split("/")[1] == "switch" for c in configs) == 2 + 1 + 2  # per camera, plus 'all'
    result = subprocess.run(
        [str(HA_PYTHON), str(Path(__file__).with_name("ha_check.py"))],
        input=json.dumps(configs), capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("ok ") == len(configs)


def _check(configs: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HA_PYTHON), str(Path(__file__).with_name("ha_check.py"))],
        input=json.dumps(configs), capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_a_fleet_nodes_entities_follow_its_own_availability_and_pass_the_schemas() -> None:
    configs = {c["topic"]: c["config"] for c in _configs(commands=True, node="n1")}
    node = configs["homeassistant/binary_sensor/feedwatch_fw_n1_node/config"]
    assert node["state_topic"] == "fw/node/n1/available" and node["device_class"] == "connectivity"
    assert (node["payload_on"], node["payload_off"]) == ("online", "offline") and "availability_topic" not in node
    problem = configs["homeassistant/binary_sensor/feedwatch_fw_n1_health/config"]
    assert problem["state_topic"] == "fw/node/n1/health" and problem["name"] == "n1 problem"
    of_cameras = [c for t, c in configs.items() if "_lobby_" in t or "_yard_" in t]
    assert len(of_cameras) == 2 + 3 * 2 + 3  # connectivity; per query sensor, snapshot, switch
    assert {c["availability_topic"] for c in of_cameras} == {"fw/node/n1/available"}
    everywhere = [c for t, c in configs.items() if "_all_" in t]
    assert len(everywhere) == 2 and all("availability_topic" not in c for c in everywhere)  # any node obeys
    if not HA_PYTHON.is_file():
        pytest.skip(f"no Home Assistant venv at {HA_PYTHON}: make it as .ci/run does (tests/ha-requirements.txt)")
    result = _check([{"topic": t, "config": c} for t, c in configs.items()])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("ok ") == len(configs)


@pytest.mark.parametrize("node", [None, "n1"])
def test_entities_are_removed_for_deleted_queries_and_a_fleet_node_never_removes_a_camera_it_let_go(
    node: str | None,
) -> None:
    publisher = RecordingPublisher(node)
    discovery = HomeAssistantDiscovery(publisher, "ha")
    person, door = Query("person", "a person"), Query("door", "the door opens")
    discovery.publish(["lobby", "yard"], [person, door])
    publisher.sent.clear()
    discovery.publish(["lobby"], [person])  # yard went elsewhere (or away); the door query was deleted
    emptied = sorted(t.split("/")[2] for t, p in publisher.sent.items() if p == b"")
    door_lobby = ["feedwatch_fw_lobby_door", "feedwatch_fw_lobby_door_snapshot"]
    yard = ["feedwatch_fw_yard_door", "feedwatch_fw_yard_door_snapshot", "feedwatch_fw_yard_person",
            "feedwatch_fw_yard_person_snapshot", "feedwatch_fw_yard_status"]  # fmt: skip
    # Alone, feedwatch removes what it no longer watches; a fleet's node leaves yard to the node that holds it now.
    assert emptied == sorted(door_lobby + (yard if node is None else []))
    publisher.sent.clear()
    discovery.publish(["lobby", "yard"], [person])  # taken back: published again, naming this node's availability
    assert "ha/binary_sensor/feedwatch_fw_yard_status/config" in publisher.sent


def test_the_checker_refuses_what_home_assistant_would() -> None:
    """The check can fail: a misspelt key and a switch without its command topic are refused."""
    if not HA_PYTHON.is_file():
        pytest.skip(f"no Home Assistant venv at {HA_PYTHON}")
    switch = next(c for c in _configs(commands=True) if "/switch/" in c["topic"])
    misspelt = {"topic": switch["topic"], "config": {**switch["config"], "state_topik": "x"}}
    headless = {"topic": switch["topic"], "config": {k: v for k, v in switch["config"].items() if k != "command_topic"}}
    result = subprocess.run(
        [str(HA_PYTHON), str(Path(__file__).with_name("ha_check.py"))],
        input=json.dumps([misspelt, headless]), capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stdout.count("REFUSED") == 2, result.stdout
