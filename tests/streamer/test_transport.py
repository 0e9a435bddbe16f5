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


async def _collect(client: aiomqtt.Client, topic: str, count: int) -> list[bytes]:
    got: list[bytes] = []
    async for m in client.messages:
        if str(m.topic) == topic and isinstance(m.payload, bytes):
            got.append(m.payload)
            if len(got) == count:
                break
    return got


async def test_topics_nobody_may_publish_to_are_refused_before_they_are_queued(broker: Broker) -> None:
    from streamer.transport import TopicError

    publisher = MqttPublisher(MqttSettings(port=broker.port, prefix="t"))
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="topic-sub") as sub:
        await sub.subscribe("t/#", qos=1)
        async with publisher:
            assert await publisher.wait_connected(scaled(10))
            for bad in ("t/r\ud800", "t/r\x00x", "t/#", "t/+/x", "$SYS/x", ""):
                with pytest.raises(TopicError):
                    publisher.publish(bad, b"x")
                with pytest.raises(TopicError):
                    await publisher.publish_durable(bad, b"x")
            publisher.publish("t/after", b"still here")
            got = await asyncio.wait_for(_collect(sub, "t/after", 1), scaled(10))
    assert got == [b"still here"] and publisher.failures == 0


@pytest.mark.slow
async def test_a_message_the_broker_refuses_is_dropped_after_three_tries_never_retried_forever(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The broker disconnects a client that sends a packet over its limit: the message that did it must not be
    # resent on every reconnect forever, holding up everything queued behind it.
    broker = Broker.on_free_port(tmp_path, extra=["max_packet_size 2000"])
    broker.start()
    try:
        settings = MqttSettings(port=broker.port, prefix="p", outbox=str(tmp_path / "outbox.sqlite"), timeout_s=1.0)
        publisher = MqttPublisher(settings)
        async with aiomqtt.Client("127.0.0.1", broker.port, identifier="poison-sub") as sub:
            await sub.subscribe("p/#", qos=1)
            async with publisher:
                assert await publisher.wait_connected(scaled(10))
                publisher.publish("p/snapshot", b"y" * 4000, retain=True)  # retained state is resent on connect
                await publisher.publish_durable("p/event", b"x" * 5000)
                await publisher.publish_durable("p/event", b"behind it")
                got = await asyncio.wait_for(_collect(sub, "p/event", 1), scaled(60))
                assert got == [b"behind it"]
        assert publisher.rejected == 2 and publisher.published == 1 and publisher.failures == 0
        assert Outbox(str(tmp_path / "outbox.sqlite")).pending() == []  # not resent at the next start either
        errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
        assert errors == [
            f"MQTT: dropped a message to {topic!r} ({size} bytes): the broker dropped the connection each of 3 times "
            "it was sent"
            for topic, size in [("p/snapshot", 4000), ("p/event", 5000)]
        ]
    finally:
        broker.stop()


async def test_a_bug_in_the_publishing_loop_is_logged_reported_and_restarted(
    broker: Broker, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    problems: list[str | None] = []
    real_send = MqttPublisher._send
    calls = 0

    async def send_that_fails_once(self: MqttPublisher, client: aiomqtt.Client, msg: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("a bug in the loop")
        await real_send(self, client, msg)

    monkeypatch.setattr(MqttPublisher, "_send", send_that_fails_once)
    publisher = MqttPublisher(MqttSettings(port=broker.port, prefix="b"))
    publisher.on_problem(problems.append)
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="bug-sub") as sub:
        await sub.subscribe("b/#", qos=1)
        async with publisher:
            publisher.publish("b/x", b"1")
            got = await asyncio.wait_for(_collect(sub, "b/x", 1), scaled(30))
            await wait_until(lambda: problems[-1:] == [None], what="the recovery to be reported")
    assert got == [b"1"] and publisher.failures == 1
    assert problems == ["the MQTT publisher failed: RuntimeError('a bug in the loop'); restarting", None]
    assert any(r.getMessage() == "MQTT publisher failed; restarting it" and r.exc_info for r in caplog.records)
