"""The output stage's order: an ``end`` waits for its clip, and no ``new`` waits for an ``end``.

With the default settings an alert ends 2 s after its last relevant frame, the next may open 1 s later, and the
ended one's clip needs 5 s of footage after that frame: a next alert of the same query opens while the last one's
``end`` still waits. Its ``new`` goes out at once; the query's retained state and snapshot follow the open alerts.
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

from agents.alerting import Alert, AlertKind
from agents.api.mqtt_topics import MqttAlertTopics
from agents.config import ClipSettings
from agents.memory.store import MomentMemory
from agents.service.clips import Clipper
from agents.service.output import OutputStage
from agents.service.port import AlertEvent
from agents.service.recording import MomentRecorder
from streamer.clips import ClipInfo
from streamer.transport.mqtt import MqttPublisher, MqttSettings
from tests.helpers import Broker, Inbox, scaled, wait_until


def _alert(alert_id: str, kind: AlertKind, snapshot: bytes | None = None) -> Alert:
    return Alert(alert_id, kind, "lobby", "person", "a person", 0, 1, 100, 101, 4.0, 0.5, "activity", False,
                 snapshot=snapshot)  # fmt: skip


class FakeClipper(Clipper):
    """A fake of the clip writer only: each alert's clip is "written" when the test releases it."""

    def __init__(self, folder: Path) -> None:
        super().__init__(ClipSettings(), {}, {}, folder)
        self.released: dict[str, asyncio.Event] = {}
        self.asked: list[str] = []

    def wants(self, alert: Alert) -> bool:
        return True

    async def clip(self, alert: Alert) -> ClipInfo | None:
        self.asked.append(alert.id)
        await self.released.setdefault(alert.id, asyncio.Event()).wait()
        return ClipInfo(str(self.path(alert.id)), alert.start_wall - 5, alert.end_wall + 5, 1000, "h264", 64, 48, 10.0)

    def release(self, alert_id: str) -> None:
        self.released.setdefault(alert_id, asyncio.Event()).set()


async def test_a_new_alert_goes_out_while_the_last_ones_end_waits_for_its_clip(tmp_path: Path) -> None:
    clipper = FakeClipper(tmp_path / "clips")
    seen: list[tuple[str, str, str | None]] = []
    arrived = asyncio.Event()

    async def listener(event: AlertEvent) -> None:
        seen.append((event.alert.kind.value, event.alert.id, event.alert.clip_path))
        arrived.set()

    memory = MomentMemory(tmp_path / "memory")
    stage = OutputStage(MomentRecorder(memory), [listener], clipper=clipper)
    task = asyncio.create_task(stage.run())

    async def until(n: int) -> None:
        async def wait() -> None:
            while len(seen) < n:
                arrived.clear()
                await arrived.wait()

        await asyncio.wait_for(wait(), scaled(10))

    try:
        await stage.put(_alert("a", AlertKind.NEW))
        await stage.put(_alert("a", AlertKind.END))
        await stage.put(_alert("b", AlertKind.NEW))
        await stage.put(_alert("b", AlertKind.UPDATE))
        await until(3)
        # a's end waits for its clip; b's new and update did not wait for it.
        assert seen == [("new", "a", None), ("new", "b", None), ("update", "b", None)]
        assert clipper.asked == ["a"]
        await stage.put(_alert("b", AlertKind.END))
        clipper.release("b")  # b's clip is ready first, but the ends go out in the order the alerts ended
        await stage.put(_alert("c", AlertKind.NEW))
        await until(4)
        assert seen[-1] == ("new", "c", None) and clipper.asked == ["a"]
        clipper.release("a")
        await until(6)
    finally:
        await stage.put(None)
        await asyncio.wait_for(task, scaled(10))
    assert seen[4:] == [("end", "a", str(clipper.path("a"))), ("end", "b", str(clipper.path("b")))]
    assert clipper.asked == ["a", "b"]
    stored = memory.get("a")
    assert stored is not None and stored.clip == str(clipper.path("a"))  # the moment has its clip


async def test_the_query_state_and_snapshot_follow_the_open_alerts(broker: Broker, inbox: Inbox) -> None:
    async with MqttPublisher(MqttSettings(port=broker.port, prefix="fw")) as publisher:
        assert await publisher.wait_connected(scaled(10))
        topics = MqttAlertTopics(publisher, {})
        # b opens before a's end goes out (a's end waited for its clip), then both end.
        for alert in [
            _alert("a", AlertKind.NEW, b"a-new"),
            _alert("b", AlertKind.NEW, b"b-new"),
            _alert("a", AlertKind.END, b"a-end"),
            _alert("b", AlertKind.END, b"b-end"),
        ]:
            await topics.alert(AlertEvent.of(alert))
        await inbox.wait_for("fw/lobby/query/person/event", lambda m: json.loads(m.payload)["id"] == "b"
                             and json.loads(m.payload)["type"] == "end")  # fmt: skip
        await inbox.wait_for("fw/lobby/query/person/state", lambda m: m.payload == b"OFF")

    def payloads(topic: str) -> list[bytes]:
        return [bytes(m.payload) for m in inbox.messages if str(m.topic) == topic]

    assert payloads("fw/lobby/query/person/state") == [b"ON", b"OFF"]  # on once, off when the last one ends
    assert payloads("fw/lobby/query/person/snapshot") == [b"a-new", b"b-new", b"b-end"]  # never back to a's
    events = [json.loads(p) for p in payloads("fw/lobby/query/person/event")]
    assert [(e["type"], e["id"]) for e in events] == [("new", "a"), ("new", "b"), ("end", "a"), ("end", "b")]


async def test_an_end_and_a_new_alert_published_side_by_side_leave_the_state_on(
    broker: Broker, inbox: Inbox, tmp_path: Path
) -> None:
    # Ends are published from their own tasks: a's end is at its durable write (in a thread) when b's new comes.
    settings = MqttSettings(port=broker.port, prefix="fw", outbox=str(tmp_path / "outbox.sqlite"))
    async with MqttPublisher(settings) as publisher:
        assert await publisher.wait_connected(scaled(10))
        topics = MqttAlertTopics(publisher, {})
        await topics.alert(AlertEvent.of(_alert("a", AlertKind.NEW, b"a-new")))
        # a's end is held at its durable write (a hook in the outbox's put, in its thread) while b's new goes out.
        outbox = publisher._outbox
        assert outbox is not None
        real_put, entered, release, order = outbox.put, threading.Event(), threading.Event(), []

        def held_put(topic: str, payload: bytes, qos: int) -> int:
            if b'"type": "end"' in payload and not entered.is_set():
                order.append("a's end at its durable write")
                entered.set()
                release.wait(scaled(30))
            return real_put(topic, payload, qos)

        outbox.put = held_put  # type: ignore[method-assign]
        end_a = asyncio.create_task(topics.alert(AlertEvent.of(_alert("a", AlertKind.END, b"a-end"))))
        await wait_until(entered.is_set, what="a's end to reach its durable write")
        await topics.alert(AlertEvent.of(_alert("b", AlertKind.NEW, b"b-new")))
        order.append("b's new queued")
        release.set()
        await end_a
        assert order == ["a's end at its durable write", "b's new queued"]  # the race happened, as meant
        await topics.alert(AlertEvent.of(_alert("b", AlertKind.END, b"b-end")))
        await inbox.wait_for("fw/lobby/query/person/state", lambda m: m.payload == b"OFF")

    states = [bytes(m.payload) for m in inbox.messages if str(m.topic) == "fw/lobby/query/person/state"]
    assert states == [b"ON", b"OFF"]  # never OFF while b is open, and ON once
    snapshots = [bytes(m.payload) for m in inbox.messages if str(m.topic) == "fw/lobby/query/person/snapshot"]
    assert snapshots[-1] == b"b-end"
