"""The service the hostile-input and soak tests attack, running, with a real MQTT subscriber and an HTTP client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import httpx

from agents import Service, validate_config
from agents.api import MqttApi
from agents.bench.common import free_port
from tests.helpers import PERSON_CLIP, Broker, Inbox, scaled, served, wait_until

__all__ = ["Attacked", "attacked_service"]


@dataclass
class Attacked:
    service: Service
    http: httpx.AsyncClient
    mqtt: MqttApi
    inbox: Inbox  # every message on the subscribed topics; ``inbox.client`` publishes as the attacker


@asynccontextmanager
async def attacked_service(tmp_path: Path, broker: Broker, *, client_id: str, topic: str) -> AsyncIterator[Attacked]:
    """A looping camera, MQTT (prefix ``fw``, discovery under ``ha``) on ``broker`` and HTTP on a free port, as
    ``feedwatch run`` builds it; yielded once it is online, stopped on the way out."""
    config = validate_config(
        {
            "cameras": [{"id": "lobby", "url": str(PERSON_CLIP), "realtime": True, "loop": True}],
            "queries": [{"id": "person", "text": "a person"}],
            "scorer": {"backend": "activity"},
            "memory": {"path": str(tmp_path / "memory")},
            "mqtt": {"enabled": True, "port": broker.port, "prefix": "fw", "discovery_prefix": "ha"},
            "http": {"port": free_port()},
        }
    )
    service, http = served(config, retry=True)
    mqtt = next(e for e in service.extensions if isinstance(e, MqttApi))
    assert http is not None
    async with aiomqtt.Client(
        "127.0.0.1", broker.port, identifier=client_id, protocol=aiomqtt.ProtocolVersion.V5
    ) as client:
        await client.subscribe(topic, qos=1)
        inbox = Inbox(client)
        listening = asyncio.create_task(inbox.run())
        task = asyncio.create_task(service.run())
        try:
            await inbox.wait_for("fw/available", lambda m: m.payload == b"online")
            await wait_until(lambda: http.bound_port is not None, what="the HTTP server")
            base = f"http://127.0.0.1:{http.bound_port}"
            async with httpx.AsyncClient(base_url=base, timeout=scaled(30)) as web:
                yield Attacked(service, web, mqtt, inbox)
        finally:
            service.stop()
            await asyncio.wait_for(task, scaled(30))
            listening.cancel()
