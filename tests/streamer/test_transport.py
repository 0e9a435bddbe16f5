"""The MQTT transport against a real mosquitto: handler lanes, and durable messages kept off the event loop."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from streamer.transport import MqttPublisher, MqttSettings, Outbox
from tests.helpers import Broker, scaled, wait_until


async def test_a_slow_handler_holds_up_nothing_and_ordered_handlers_keep_arrival_order(broker: Broker) -> None:
    release = asyncio.Event()
    seen: list[str] = []

    async def slow(message: aiomqtt.Message) -> None:  # a question that takes long to answer
        await release.wait()
        seen.append("slow")

    async def ordered(message: aiomqtt.Message) -> None:  # commands that change state
        assert isinstance(message.payload, bytes)
        seen.append(message.payload.decode())

    publisher = MqttPublisher(MqttSettings(port=broker.port, prefix="lanes"))
    publisher.subscribe("lanes/ask", slow, concurrent=True)
    publisher.subscribe("lanes/set", ordered)
    publisher.subscribe("lanes/+/delete", ordered)
    async with publisher:
        assert await publisher.wait_connected(scaled(10))
        async with aiomqtt.Client("127.0.0.1", broker.port, identifier="lanes-client") as client:
            await client.publish("lanes/ask", b"?", qos=1)
            await client.publish("lanes/ask", b"?", qos=1)
            for i in range(20):
                topic = "lanes/set" if i % 2 == 0 else f"lanes/q{i}/delete"
                await client.publish(topic, str(i).encode(), qos=1)
            await wait_until(lambda: len(seen) == 20, what="the commands, while two slow handlers wait")
            assert seen == [str(i) for i in range(20)]
            release.set()
            await wait_until(lambda: seen.count("slow") == 2, what="the slow handlers")


async def test_durable_messages_are_written_and_acknowledged_off_the_event_loop(
    broker: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, threading.Thread]] = []

    def spy(name: str) -> Any:
        real = getattr(Outbox, name)

        def wrapper(self: Outbox, *args: Any) -> Any:
            calls.append((name, threading.current_thread()))
            return real(self, *args)

        return wrapper

    for name in ("put", "done", "pending", "close"):
        monkeypatch.setattr(Outbox, name, spy(name))
    loop_thread = threading.current_thread()
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="durable-sub") as sub:
        await sub.subscribe("d/#", qos=1)
        publisher = MqttPublisher(MqttSettings(port=broker.port, prefix="d", outbox=str(tmp_path / "outbox.sqlite")))
        async with publisher:
            for i in range(5):
                await publisher.publish_durable("d/event", f"{i}".encode(), qos=1)
            await wait_until(lambda: sum(n == "done" for n, _ in calls) == 5, what="the broker's acknowledgements")

        async def five() -> list[bytes]:
            got: list[bytes] = []
            async for m in sub.messages:
                if str(m.topic) == "d/event" and isinstance(m.payload, bytes):
                    got.append(m.payload)
                    if len(got) == 5:
                        return got
            return got

        assert await asyncio.wait_for(five(), scaled(10)) == [b"0", b"1", b"2", b"3", b"4"]
    assert {n for n, _ in calls} == {"put", "done", "pending", "close"}
    assert all(thread is not loop_thread for _, thread in calls), [(n, t.name) for n, t in calls]
