"""The MQTT outbox across a restart of feedwatch: events queued while the broker is down survive a SIGTERM, and a
kill -9 after their durable write, and are delivered once each, in order, when the broker and feedwatch are back.

Everything is real: ``feedwatch run`` processes, mosquitto stopped and started, the outbox's SQLite file read to
know what was durably queued."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from tests.helpers import PERSON_CLIP, Broker, scaled, wait_until
from tests.running import FeedwatchProcess

pytestmark = pytest.mark.slow


def _config(broker: Broker, memory: Path, *, queries: bool) -> dict[str, Any]:
    return {
        "cameras": [{"id": "lobby", "url": str(PERSON_CLIP)}],  # the file once, as fast as it decodes: 6 alerts
        "queries": [{"id": "person", "text": "a person"}] if queries else [],
        "scorer": {"backend": "activity"},
        "mqtt": {"enabled": True, "port": broker.port, "prefix": "fw"},
        "memory": {"path": str(memory)},
        "clips": {"enabled": False},
    }


def _queued(memory: Path) -> list[tuple[str, bytes]]:
    """(topic, payload) of the outbox's rows, in order; read-only, beside the running writer (WAL)."""
    path = memory / "mqtt-outbox.sqlite"
    if not path.is_file():
        return []
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return [(str(t), bytes(p)) for t, p in db.execute("SELECT topic, payload FROM outbox ORDER BY seq")]


@pytest.mark.parametrize("stop", ["sigterm", "kill"])
async def test_events_queued_while_the_broker_is_down_are_delivered_once_in_order_after_a_restart(
    tmp_path: Path, stop: str
) -> None:
    broker = Broker.on_free_port(tmp_path)  # not started: the broker is down while the alerts happen
    memory = tmp_path / "memory"
    first = FeedwatchProcess(tmp_path, _config(broker, memory, queries=True)).start()
    try:
        await first.until("the service to answer", lambda h: bool(h))

        def ends() -> list[bytes]:
            return [p for t, p in _queued(memory) if t.endswith("/event") and b'"type": "end"' in p]

        await wait_until(lambda: len(ends()) >= 6, 60, "six ended alerts durably queued")
        queued = [(t, p) for t, p in _queued(memory) if t.endswith("/event")]
        if stop == "sigterm":
            log = await first.stop()
            assert "stay in the outbox for the next start" in log
        else:
            assert first.proc is not None
            first.kill()  # SIGKILL, after the rows were durably written (read back above)
            await first.http.aclose()
    finally:
        first.kill()
    assert len(queued) >= 12  # a new and an end per alert, at least
    assert [t for t, _ in _queued(memory) if t.endswith("/event")] == [t for t, _ in queued]  # all still there

    broker.start()
    try:
        async with aiomqtt.Client("127.0.0.1", broker.port, identifier="late-reader") as reader:
            await reader.subscribe("fw/+/query/+/event", qos=1)
            # Started again without queries: nothing new happens, so what arrives is what waited.
            second = FeedwatchProcess(tmp_path, _config(broker, memory, queries=False)).start()
            try:
                received: list[bytes] = []

                async def collect() -> None:
                    async for message in reader.messages:
                        assert isinstance(message.payload, bytes)
                        received.append(message.payload)
                        if len(received) >= len(queued):
                            return

                await asyncio.wait_for(collect(), scaled(60))
                await wait_until(lambda: not _queued(memory), 30, "the outbox to empty")
                log = await second.stop()
            finally:
                second.kill()
    finally:
        broker.stop()
    assert received == [p for _, p in queued]  # once each, in the order they were queued
    assert "MQTT outbox" in log and len({json.loads(p)["id"] for p in received}) >= 6
