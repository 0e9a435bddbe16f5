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

    def __init__(self) -> None:
        super().__init__(MqttSettings(prefix="fw"))
        self.sent: dict[str, Any] = {}

    def publish(self, topic: str, payload: str | bytes, **kwargs: Any) -> None:
        self.sent[topic] = payload


def _configs(commands: bool) -> list[dict[str, Any]]:
    publisher = RecordingPublisher()
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
