"""Each hostile input an attacker on the network tried, against a running service: refused with a clear answer, and
the service stays whole (alerts still flow, nothing restarted, healthy).

The inputs are the ones that crashed or wedged the service before: a lone surrogate or a NUL in ``reply_to``,
JSON nested 4,000 deep, reply topics naming other topics, huge paging offsets, NaN thresholds, surrogates in
query texts and questions.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.agents.api.attack import Attacked, attacked_service
from tests.helpers import Broker

pytestmark = pytest.mark.slow

DEEP = b'{"question": ' + b"[" * 4000 + b"]" * 4000 + b"}"  # under the 8 KiB limit


@pytest.fixture
async def running(broker: Broker, tmp_path: Path) -> AsyncIterator[Attacked]:
    async with attacked_service(tmp_path, broker, client_id="attacker", topic="#") as run:
        yield run


def _body(m: aiomqtt.Message) -> Any:
    assert isinstance(m.payload, bytes)
    return json.loads(m.payload)


async def _refused(run: Attacked, topic: str, payload: bytes, words: str, *, response_topic: str | None = None) -> None:
    """Send a command; its refusal must come on the default result topic, and say ``words``."""
    seen = len(run.inbox.messages)
    props = None
    if response_topic is not None:
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ResponseTopic = response_topic
    await run.inbox.client.publish(topic, payload, qos=1, properties=props)

    def fresh_refusal(m: aiomqtt.Message) -> bool:
        return run.inbox.messages.index(m) >= seen and _body(m)["command"] == topic

    reply = _body(await run.inbox.wait_for("fw/commands/result", fresh_refusal))
    assert reply["ok"] is False and words in reply["error"], reply


async def test_hostile_mqtt_commands_are_refused_and_the_service_stays_whole(running: Attacked) -> None:
    run = running
    publisher = run.mqtt.publisher
    assert publisher is not None
    connects = publisher.connects
    ask = "fw/ask"
    cases = [
        # A lone surrogate in reply_to: used to kill the publisher task (UnicodeEncodeError in paho), silently.
        (ask, b'{"question": "who?", "reply_to": "fw/reply/r\\ud800"}', "not valid UTF-8"),
        # A NUL in reply_to: the broker drops the connection; the message used to be resent forever.
        (ask, b'{"question": "who?", "reply_to": "fw/reply/a\\u0000b"}', "NUL"),
        # JSON nested 4,000 deep: used to be a RecursionError and no reply.
        (ask, DEEP, "deeper than 32"),
        ("fw/queries/set", b'{"id": "x", "text": ' + b"[" * 4000 + b"]" * 4000 + b"}", "deeper than 32"),
        # Reply topics outside fw/reply/: feedwatch's own state, discovery, availability, other systems.
        (ask, b'{"question": "who?", "reply_to": "fw/available"}', "replies go only under fw/reply/"),
        (ask, b'{"question": "who?", "reply_to": "fw/lobby/status"}', "replies go only under fw/reply/"),
        (ask, b'{"question": "who?", "reply_to": "ha/binary_sensor/x/config"}', "replies go only under fw/reply/"),
        (ask, b'{"question": "who?", "reply_to": "zigbee2mqtt/door/set"}', "replies go only under fw/reply/"),
        (ask, b'{"question": "who?", "reply_to": "fw/reply"}', "replies go only under fw/reply/"),
        (ask, b'{"question": "who?", "reply_to": 7}', "must be a non-empty string"),
        ("fw/queries/set", b'{"id": "x", "text": "t", "threshold": NaN}', "NaN is not allowed"),
        ("fw/queries/set", b'{"id": "x", "text": "\\ud800"}', "not valid UTF-8"),
        # A refused reply topic means the command is not run at all.
        ("fw/queries/set", b'{"id": "sneaky", "text": "t", "reply_to": "fw/queries"}', "replies go only under"),
    ]
    for topic, payload, words in cases:
        await _refused(run, topic, payload, words)
    # The MQTT 5 response topic obeys the same rule.
    await _refused(run, "fw/queries/set", b'{"id": "sneaky", "text": "t"}', "replies go only under",
                   response_topic="fw/lobby/query/person/state")  # fmt: skip
    assert [q.id for q in run.service.queries()] == ["person"]

    # Nothing was published where the attacker pointed, and the publisher never restarted or reconnected.
    bad_targets = {"fw/lobby/status", "ha/binary_sensor/x/config", "zigbee2mqtt/door/set", "fw/reply"}
    assert not [m for m in run.inbox.messages if str(m.topic) in bad_targets and b"who?" in m.payload]
    assert publisher.failures == 0 and publisher.rejected == 0 and publisher.connects == connects

    # A good command with a good reply topic still works, and the alerting never stopped.
    await run.inbox.client.publish(ask, json.dumps({"question": "who?", "reply_to": "fw/reply/me"}), qos=1)
    assert _body(await run.inbox.wait_for("fw/reply/me", timeout=30))["ok"] is True
    event = _body(await run.inbox.wait_for("fw/lobby/query/person/event", timeout=60))
    assert event["type"] == "new" and event["backend"] == "activity"
    assert run.service.health.report().healthy and run.service.health.report().restarts == {}


async def test_hostile_http_requests_get_4xx_and_the_service_stays_whole(running: Attacked) -> None:
    web = running.http
    cases: list[tuple[str, str, Any]] = [
        ("GET", "/api/alerts?offset=" + str(10**30), None),  # used to be OverflowError into SQLite: 500
        ("GET", "/api/moments?offset=" + str(10**30), None),
        ("GET", "/api/moments?offset=" + str(10**30) + "&q=person", None),
        ("GET", "/api/alerts?since=nan", None),
        ("GET", "/api/moments?until=inf", None),
        ("POST", "/api/queries", b'{"id": "x", "text": "t", "threshold": NaN}'),  # used to be 500
        ("POST", "/api/queries", b'{"id": "x", "text": "t", "threshold": Infinity}'),
        ("POST", "/api/queries", b'{"id": "x", "text": "\\ud800"}'),  # a lone surrogate: used to be 500
        ("POST", "/api/ask", b'{"question": "who \\udfff?"}'),
        ("POST", "/api/ask", DEEP),
        ("POST", "/api/queries", b'{"id": "x", "text": "t", "cameras": ' + b"[" * 4000 + b"]" * 4000 + b"}"),
        ("POST", "/api/ask", b'{"question": "\xff\xfe"}'),  # not UTF-8
        # Found by the soak test: bytes that are not UTF-8 under another content type made FastAPI's own
        # validation-error handler fail (a 500) echoing them.
        ("POST", "/api/queries", b"\xd3\x8cnc\xf1 text/plain"),
        ("POST", "/api/login", b"\xc9VrI\x95 form"),
    ]
    for method, path, body in cases:
        ctype = "application/json" if body is None or not body.endswith((b"plain", b"form")) else "text/plain"
        headers = {"content-type": ctype} if body is not None else {}
        response = await web.request(method, path, content=body, headers=headers)
        assert response.status_code == 422, (method, path, body and body[:60], response.status_code, response.text)
        detail = response.json()["detail"]
        assert isinstance(detail, list) and detail[0]["msg"], detail
    assert [q.id for q in running.service.queries()] == ["person"]
    health = await web.get("/api/health")
    assert health.status_code == 200 and health.json()["status"] == "ok" and health.json()["restarts"] == {}
