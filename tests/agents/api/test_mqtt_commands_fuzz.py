"""The MQTT command handlers, fuzzed: whatever payload and response topic a client sends, each command gets exactly
one reply, on a topic under the reply prefix (or the default result topic), as valid UTF-8 JSON, and nothing raises.

The handlers run for real; the service behind them is a fake port that records what it was asked to do (no
cameras or models are needed to judge a command), and the publisher is the real one, not connected, recording
what it is given (its own topic checks still apply)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiomqtt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agents.api.mqtt_commands import MqttCommands
from agents.qa.answer import Answer
from agents.scoring import Query
from streamer.transport import MqttPublisher, MqttSettings
from streamer.transport.topics import TopicError, check_topic, under


class RecordingPublisher(MqttPublisher):
    """The real publisher (topic checks and all), never connected, keeping what it was asked to publish."""

    def __init__(self) -> None:
        super().__init__(MqttSettings(prefix="fw"))
        self.sent: list[tuple[str, bytes]] = []

    def publish(self, topic: str, payload: bytes | str, **kwargs: Any) -> None:
        super().publish(topic, payload, **kwargs)
        self.sent.append((topic, payload.encode() if isinstance(payload, str) else payload))


class FakePort:
    """Stands in for the running service: records the commands that got through."""

    def __init__(self) -> None:
        self.set: list[Query] = []
        self.asked: list[str] = []

    async def set_query(self, query: Query) -> None:
        self.set.append(query)

    async def delete_query(self, query_id: str) -> bool:
        return query_id == "person"

    async def ask(self, question: str, *, limit: int = 5) -> Answer:
        if not question.strip():
            raise ValueError("the question is empty")
        self.asked.append(question)
        return Answer(question, "an answer", "fake")


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=12,
)
_topics = st.sampled_from(
    ["fw/reply/x", "fw/reply/a/b", "fw/reply", "fw/replyx/y", "fw/available", "fw/lobby/status", "other/system",
     "fw/reply/#", "fw/reply/+", "fw/reply/\x00", "fw/reply/\ud800", "$SYS/x", "", "fw/reply/" + "x" * 70000]
) | st.text(max_size=40)  # fmt: skip
_bodies = st.fixed_dictionaries(
    {},
    optional={
        "id": st.sampled_from(["door", "person", "bad id!", ""]) | st.text(max_size=70),
        "text": st.text(max_size=600),
        "threshold": st.floats() | st.integers() | st.text(max_size=3),
        "cameras": st.lists(st.text(max_size=10), max_size=3),
        "question": st.text(max_size=50) | _json_values,
        "reply_to": _topics | _json_values,
        "extra": _json_values,
    },
)
_payloads = (
    _bodies.map(lambda b: json.dumps(b).encode("utf-8", "surrogatepass"))
    | _json_values.map(lambda v: json.dumps(v).encode("utf-8", "surrogatepass"))
    | st.binary(max_size=100)
    | st.sampled_from([b"[" * 4000 + b"]" * 4000, b'{"id": "x", "text": "t", "threshold": NaN}', b"x" * 9000, b""])
)
_command_topics = st.sampled_from(["fw/queries/set", "fw/ask", "fw/queries/person/delete", "fw/queries/x/delete"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topic=_command_topics, payload=_payloads, response_topic=st.none() | _topics)
def test_every_command_gets_exactly_one_safe_reply(topic: str, payload: bytes, response_topic: str | None) -> None:
    publisher, port = RecordingPublisher(), FakePort()
    commands = MqttCommands(port, publisher, replies_under="fw/reply")  # type: ignore[arg-type]
    props = None
    if response_topic is not None:
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ResponseTopic = response_topic
    message = aiomqtt.Message(topic, payload, 1, False, 1, props)
    handler = {"fw/queries/set": commands._on_set, "fw/ask": commands._on_ask}.get(topic, commands._on_delete)
    asyncio.run(handler(message))

    assert len(publisher.sent) == 1
    reply_topic, raw = publisher.sent[0]
    assert reply_topic == "fw/commands/result" or reply_topic.startswith("fw/reply/")
    reply = json.loads(raw.decode("utf-8"))
    assert reply["command"] == topic and isinstance(reply["ok"], bool)
    if not reply["ok"]:
        assert isinstance(reply["error"], str) and reply["error"]
        assert not port.set and not port.asked  # a refused command ran nothing
    if response_topic and _allowed(response_topic):
        assert reply_topic == response_topic  # a good response topic always gets the reply, refusals included
    if reply_topic != "fw/commands/result":
        assert _allowed(reply_topic)


def _allowed(topic: str) -> bool:
    try:
        check_topic(topic)
    except TopicError:
        return False
    return under(topic, "fw/reply")
