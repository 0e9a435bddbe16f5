"""The broker ACL the README gives (configs/mosquitto/acl), on a real mosquitto with passwords: feedwatch publishes
its state, a listed user's command works, an unlisted user's command and forged state are refused by the broker.
And ``mqtt.commands: false`` turns the command topics off entirely."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest

from agents import validate_config
from agents.api import MqttApi
from tests.helpers import PERSON_CLIP, ROOT, Broker, Inbox, scaled, served, wait_until

pytestmark = pytest.mark.slow

USERS = {"feedwatch": "fw-secret", "homeassistant": "ha-secret", "dashboard": "dash-secret", "intruder": "x"}


@pytest.fixture
def acl_broker(tmp_path: Path) -> Iterator[Broker]:
    passwords = tmp_path / "passwd"
    for i, (user, password) in enumerate(USERS.items()):
        create = ["-c"] if i == 0 else []
        subprocess.run(["mosquitto_passwd", *create, "-b", str(passwords), user, password], check=True)
    log = tmp_path / "mosquitto.log"
    broker = Broker.on_free_port(
        tmp_path,
        extra=[
            "allow_anonymous false",
            f"password_file {passwords}",
            f"acl_file {ROOT / 'configs' / 'mosquitto' / 'acl'}",
            "log_type all",
            f"log_dest file {log}",
        ],
    )
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def _client(broker: Broker, user: str) -> aiomqtt.Client:
    return aiomqtt.Client(
        "127.0.0.1", broker.port, identifier=user, username=user, password=USERS[user],
        protocol=aiomqtt.ProtocolVersion.V5,
    )  # fmt: skip


def _config(broker: Broker, tmp_path: Path, *, commands: bool = True) -> object:
    return validate_config(
        {
            "cameras": [{"id": "lobby", "url": str(PERSON_CLIP), "realtime": True, "loop": True}],
            "queries": [{"id": "person", "text": "a person"}],
            "scorer": {"backend": "activity"},
            "memory": {"path": str(tmp_path / "memory")},
            "http": {"enabled": False},
            "mqtt": {
                "enabled": True,
                "port": broker.port,
                "username": "feedwatch",
                "password": USERS["feedwatch"],
                "client_id": "feedwatch-service",
                "commands": commands,
            },
        }
    )


async def _broker_log(tmp_path: Path, words: str) -> None:
    log = tmp_path / "mosquitto.log"
    await wait_until(lambda: log.is_file() and words in log.read_text(), what=f"the broker to log {words!r}")


async def test_only_listed_users_command_and_only_feedwatch_publishes_its_state(
    acl_broker: Broker, tmp_path: Path
) -> None:
    service, _ = served(_config(acl_broker, tmp_path), retry=True)  # type: ignore[arg-type]
    async with _client(acl_broker, "homeassistant") as ha, _client(acl_broker, "intruder") as intruder:
        await ha.subscribe("feedwatch/#", qos=1)
        inbox = Inbox(ha)
        listening = asyncio.create_task(inbox.run())
        task = asyncio.create_task(service.run())
        try:
            await inbox.wait_for("feedwatch/available", lambda m: m.payload == b"online")
            await inbox.wait_for("feedwatch/health", lambda m: b'"ok"' in m.payload)

            # The unlisted client: its command and its forged state are refused by the broker.
            forged = {"id": "intruder", "text": "anything", "reply_to": "feedwatch/reply/intruder"}
            await intruder.publish("feedwatch/queries/set", json.dumps(forged), qos=1)
            await intruder.publish("feedwatch/available", b"offline", qos=1, retain=True)
            await _broker_log(tmp_path, "Denied PUBLISH from intruder")

            # The listed one: its command works.
            await ha.publish("feedwatch/queries/set", json.dumps({"id": "door", "text": "a person at the door",
                             "reply_to": "feedwatch/reply/ha"}), qos=1)  # fmt: skip
            reply = await inbox.wait_for("feedwatch/reply/ha")
            assert isinstance(reply.payload, bytes) and json.loads(reply.payload)["ok"] is True
            assert [q.id for q in service.queries()] == ["person", "door"]
            assert not [m for m in inbox.messages if str(m.topic) == "feedwatch/available" and m.payload == b"offline"]
            log = (tmp_path / "mosquitto.log").read_text()
            assert log.count("Denied PUBLISH from intruder") == 2, log
            assert "Received SUBSCRIBE from feedwatch-service" in log  # it listens for commands
        finally:
            service.stop()
            await asyncio.wait_for(task, scaled(30))
            listening.cancel()


async def test_a_dashboard_may_watch_but_not_command(acl_broker: Broker, tmp_path: Path) -> None:
    service, _ = served(_config(acl_broker, tmp_path), retry=True)  # type: ignore[arg-type]
    async with _client(acl_broker, "dashboard") as dash:
        await dash.subscribe("feedwatch/#", qos=1)
        inbox = Inbox(dash)
        listening = asyncio.create_task(inbox.run())
        task = asyncio.create_task(service.run())
        try:
            await inbox.wait_for("feedwatch/lobby/status")
            await dash.publish("feedwatch/ask", json.dumps({"question": "who?"}), qos=1)
            await _broker_log(tmp_path, "Denied PUBLISH from dashboard")
        finally:
            service.stop()
            await asyncio.wait_for(task, scaled(30))
            listening.cancel()


async def test_commands_false_turns_the_command_topics_off(acl_broker: Broker, tmp_path: Path) -> None:
    service, _ = served(_config(acl_broker, tmp_path, commands=False), retry=True)  # type: ignore[arg-type]
    mqtt = next(e for e in service.extensions if isinstance(e, MqttApi))
    async with _client(acl_broker, "homeassistant") as ha:
        await ha.subscribe("feedwatch/#", qos=1)
        inbox = Inbox(ha)
        listening = asyncio.create_task(inbox.run())
        task = asyncio.create_task(service.run())
        try:
            await inbox.wait_for("feedwatch/available", lambda m: m.payload == b"online")
            assert mqtt.publisher is not None and mqtt.publisher.subscriptions == []
            log = (tmp_path / "mosquitto.log").read_text()
            assert "New client connected from" in log and "as feedwatch-service" in log
            assert "Received SUBSCRIBE from feedwatch-service" not in log  # nothing to command through
        finally:
            service.stop()
            await asyncio.wait_for(task, scaled(30))
            listening.cancel()
