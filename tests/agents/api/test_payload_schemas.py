"""What feedwatch publishes, pinned: every payload kind of a real run (MQTT through a real broker, the HTTP event
stream) validates against its JSON Schema in agents/api/schemas/, and so do the README's examples."""

from __future__ import annotations

import asyncio
import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest

from agents.api.payloads import PAYLOAD_SCHEMAS, payload_schema
from agents.bench.common import free_port
from agents.bench.rtsp import PerlRtspServer
from agents.config import BACKEND_NAMES, validate_config
from streamer.reader import CameraStatus
from tests.helpers import PERSON_CLIP, ROOT, Broker, Inbox, scaled, served, wait_until


def _validate(name: str, payload: Any) -> None:
    errors = [e.message for e in jsonschema_rs.validator_for(payload_schema(name)).iter_errors(payload)]
    assert not errors, f"{name}: {errors} in {payload}"


def test_the_schemas_compile_and_name_what_the_code_names() -> None:
    for name in PAYLOAD_SCHEMAS:
        jsonschema_rs.validator_for(payload_schema(name))  # raises on an invalid schema
    for name in ("mqtt-event", "sse-alert"):
        assert payload_schema(name)["properties"]["backend"]["enum"] == list(BACKEND_NAMES)
    for name in ("mqtt-status", "sse-status"):
        assert payload_schema(name)["properties"]["status"]["enum"] == [s.value for s in CameraStatus]
    with pytest.raises(KeyError, match="known: mqtt-event"):
        payload_schema("nothing")


def test_the_readmes_examples_validate() -> None:
    readme = (ROOT / "README.md").read_text()
    event = next(b for b in re.findall(r"```json\n(.*?)```", readme, re.S) if '"type": "end"' in b)
    _validate("mqtt-event", json.loads(event))
    queries = re.search(r"\| `<prefix>/queries` \| yes \| `(\{.*?\})` \|", readme)
    assert queries is not None
    _validate("mqtt-queries", json.loads(queries.group(1)))


def test_a_schema_refuses_what_it_should() -> None:
    good = {"schema": 1, "status": "degraded", "problems": {}, "degraded": {"scorer": "away"}, "restarts": {}}
    _validate("mqtt-health", good)
    bad = jsonschema_rs.validator_for(payload_schema("mqtt-health"))
    assert not bad.is_valid({**good, "status": "sad"}) and not bad.is_valid({**good, "extra": 1})


@pytest.mark.slow
async def test_every_payload_of_a_real_run_validates(tmp_path: Path, broker: Broker, inbox: Inbox) -> None:
    rtsp = PerlRtspServer(PERSON_CLIP, wait_s=scaled(30))
    rtsp.start()
    port = free_port()
    config = validate_config({
        "cameras": [{"id": "lobby", "url": str(PERSON_CLIP), "realtime": True, "loop": True, "fps": 2},
                    {"id": "porch", "url": rtsp.url, "fps": 2}],
        "queries": [{"id": "person", "text": "a person"}],
        "scorer": {"backend": "activity"},
        "mqtt": {"enabled": True, "port": broker.port, "prefix": "fw"},
        "memory": {"path": str(tmp_path / "memory")},
        "clips": {"enabled": False},
        "alerts": {"end_after_s": 1.0},
        "http": {"port": port},
    })  # fmt: skip
    service, _ = served(config, retry=True)
    task = asyncio.create_task(service.run())
    sse: dict[str, list[dict[str, Any]]] = defaultdict(list)

    async def listen(client: httpx.AsyncClient) -> None:
        async with client.stream("GET", "/api/events") as stream:
            event = ""
            async for line in stream.aiter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    sse[event].append(json.loads(line[6:]))

    try:
        await wait_until(lambda: service.scheduler is not None, 30, "the service to start")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=scaled(30)) as client:
            listener = asyncio.create_task(listen(client))
            await wait_until(lambda: any(a["type"] == "end" for a in sse["alert"]), 90, "an ended alert")
            added = await client.post("/api/queries", json={"id": "car", "text": "a car parks"})
            assert added.status_code in (200, 201), added.text
            await wait_until(lambda: sse["queries"], 30, "the queries event")
            rtsp.kill_publisher()  # an outage, and its end
            await wait_until(lambda: any(o["event"] == "offline" for o in sse["outage"]), 60, "the outage")
            rtsp.start_publisher()
            await wait_until(lambda: any(o["event"] == "back" for o in sse["outage"]), 60, "the camera back")
            listener.cancel()
    finally:
        service.stop()
        await asyncio.wait_for(task, scaled(30))
        rtsp.stop()

    mqtt: dict[str, list[Any]] = defaultdict(list)
    for m in inbox.messages:
        topic = str(m.topic)
        kind = next((k for pattern, k in _MQTT_KINDS if re.fullmatch(pattern, topic)), None)
        if kind is not None and isinstance(m.payload, bytes | bytearray) and m.payload:
            mqtt[kind].append(json.loads(m.payload))
    seen = {f"mqtt-{k}": v for k, v in mqtt.items()} | {f"sse-{k}": v for k, v in sse.items()}
    assert set(seen) >= set(PAYLOAD_SCHEMAS), f"kinds not seen in the run: {set(PAYLOAD_SCHEMAS) - set(seen)}"
    for name, payloads in seen.items():
        if name in PAYLOAD_SCHEMAS:
            for payload in payloads:
                _validate(name, payload)


_MQTT_KINDS = [
    (r"fw/[^/]+/query/[^/]+/event", "event"),
    (r"fw/[^/]+/status", "status"),
    (r"fw/health", "health"),
    (r"fw/[^/]+/outage", "outage"),
    (r"fw/queries", "queries"),
]
