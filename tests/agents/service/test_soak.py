"""A running service under a storm of hostile input: 1,000 random MQTT command payloads and 1,000 random HTTP
requests (malformed, deep, non-finite, not UTF-8, aimed at other topics, huge numbers), then a real alert.

The alert is delivered, every command got exactly one reply, no HTTP request got a 5xx, the service is healthy,
and no stage restarted (a restart would show as a log line and a count; both are compared). The storm is random
with a printed seed (``FEEDWATCH_SOAK_SEED`` replays one)."""

from __future__ import annotations

import asyncio
import json
import os
import random
from pathlib import Path
from typing import Any

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.agents.api.attack import attacked_service
from tests.helpers import Broker, wait_until

pytestmark = pytest.mark.slow

STORM = 1000
_WEIRD_TEXT = ["", " ", "\ud800", "\udfff x", "a\x00b", "fw/#", "+", "$SYS/x", "x" * 600, "ü€𝄞", "\n", "NaN", "[]"]
_TOPICS = ["fw/reply/x", "fw/reply/a/b", "fw/reply", "fw/available", "fw/lobby/status", "ha/x/config", "other/sys",
           "fw/reply/#", "fw/reply/\x00", "fw/reply/\ud800", "$SYS/x", "", "fw/reply/" + "y" * 300]  # fmt: skip

# Response topics the broker passes on (one with a wildcard or a NUL gets the sender disconnected by the broker).
_RESPONSE_TOPICS = ["fw/reply/x", "fw/reply", "fw/available", "fw/lobby/status", "ha/x/config", "other/sys", "$x/y"]


def _value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.choice([0, -1, 3, 10**30, -(10**30), 2**63])
    if kind == 2:
        return rng.choice([0.5, 3.0, 1e308, -0.0, float("nan"), float("inf"), -float("inf")])
    if kind in (3, 4, 5):
        return rng.choice([*_WEIRD_TEXT, "a person", "door", "who came in the last 99999999999 days?"])
    if kind == 6:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(["id", "text", "threshold", "cameras", "question", "reply_to", "limit", "\ud800", "x"]):
            _value(rng, depth + 1) for _ in range(rng.randrange(5))}  # fmt: skip


def _payload(rng: random.Random) -> bytes:
    kind = rng.randrange(10)
    if kind == 8:  # a good question
        body = {"question": rng.choice(["who was here?", "anyone in the last 5 minutes?"]), "reply_to": "fw/reply/q"}
        return json.dumps(body).encode()
    if kind == 9:  # a good query
        return json.dumps({"id": rng.choice(["door", "gate"]), "text": "a person at the door"}).encode()
    if kind == 0:
        return rng.randbytes(rng.randrange(200))
    if kind == 1:
        return b"[" * rng.choice([40, 4000]) + b"]" * 4000
    if kind == 2:
        return b"x" * 9000
    if kind == 3:  # a plausible command
        body = {"id": rng.choice(["door", "gate", "person", "bad id!"]), "text": rng.choice([*_WEIRD_TEXT, "a car"]),
                "question": rng.choice([*_WEIRD_TEXT, "who was here?"]), "reply_to": rng.choice(_TOPICS)}  # fmt: skip
        return json.dumps(body).encode("utf-8", "surrogatepass")
    return json.dumps(_value(rng)).encode("utf-8", "surrogatepass")


def _request(rng: random.Random) -> tuple[str, str, dict[str, str], bytes | None]:
    huge = rng.choice(["1" + "0" * 30, "-1", "nan", "inf", "1e999", "%ED%A0%80", "%00", "", "x", "50"])
    method, path = rng.choice(
        [("GET", "/api/alerts"), ("GET", "/api/moments"), ("GET", "/api/cameras"), ("GET", "/api/queries"),
         ("POST", "/api/queries"), ("POST", "/api/ask"), ("DELETE", "/api/queries/door"), ("GET", "/api/health"),
         ("GET", f"/api/moments/{huge}"), ("GET", f"/api/alerts/{huge}/snapshot.jpg"), ("GET", "/metrics"),
         ("GET", f"/api/asked/{huge}.jpg"), ("GET", f"/api/cameras/{huge}/snapshot.jpg"), ("PUT", "/api/queries"),
         ("POST", "/api/login"), ("GET", "/openapi.json"), ("GET", "/")]
    )  # fmt: skip
    params = "&".join(f"{k}={huge}" for k in rng.sample(["offset", "limit", "since", "until", "q", "camera"], 3))
    headers = {"content-type": rng.choice(["application/json", "text/plain", "application/x-www-form-urlencoded", ""])}
    body = _payload(rng) if method in ("POST", "PUT") else None
    return method, f"{path}?{params}", headers, body


@pytest.mark.timeout(900)
async def test_a_storm_of_hostile_input_then_a_real_alert(
    broker: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seed = int(os.environ.get("FEEDWATCH_SOAK_SEED") or random.randrange(2**31))
    rng = random.Random(seed)
    async with attacked_service(tmp_path, broker, client_id="storm", topic="fw/#") as run:
        service, web, mqtt, inbox, client = run.service, run.http, run.mqtt, run.inbox, run.inbox.client
        assert mqtt.publisher is not None

        # 1,000 random command payloads, on every command topic, with random MQTT 5 response topics.
        sent_commands: list[str] = []
        for _ in range(STORM):
            topic = rng.choice(["fw/ask", "fw/queries/set", "fw/queries/door/delete", "fw/queries/x/delete"])
            props = None
            if rng.random() < 0.3:
                props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
                props.ResponseTopic = rng.choice(_RESPONSE_TOPICS)
            await client.publish(topic, _payload(rng), qos=1, properties=props)
            sent_commands.append(topic)

        # 1,000 random HTTP requests, eight at a time.
        statuses: list[int] = []
        server_errors: list[str] = []
        requests = [_request(rng) for _ in range(STORM)]

        async def one(method: str, url: str, headers: dict[str, str], body: bytes | None) -> None:
            response = await web.request(method, url, headers=headers, content=body)
            statuses.append(response.status_code)
            if response.status_code >= 500:
                server_errors.append(f"{method} {url} {headers} {body!r:.80}: {response.text:.200}")

        for i in range(0, STORM, 8):
            await asyncio.gather(*(one(*r) for r in requests[i : i + 8]))
        metrics = (await web.get("/metrics")).text

        def replies() -> list[Any]:
            return [json.loads(m.payload) for m in inbox.messages if isinstance(m.payload, bytes)
                    and (str(m.topic) == "fw/commands/result" or str(m.topic).startswith("fw/reply/"))]  # fmt: skip

        await wait_until(lambda: len(replies()) >= STORM, 120, "a reply to every command")

        # Then a real alert: a new standing query, and its first alert, delivered.
        await client.publish("fw/queries/set", json.dumps({"id": "after", "text": "anything moving",
                             "reply_to": "fw/reply/after"}), qos=1)  # fmt: skip
        assert json.loads((await inbox.wait_for("fw/reply/after")).payload)["ok"] is True
        event = json.loads((await inbox.wait_for("fw/lobby/query/after/event", timeout=90)).payload)
        health = service.health.report()

    answered = replies()
    print(f"soak: seed {seed}; {len(sent_commands)} commands -> {len(answered)} replies "
          f"({sum(r['ok'] for r in answered)} ok); HTTP statuses {sorted(set(statuses))}")  # fmt: skip
    assert event["type"] == "new" and event["query_id"] == "after"
    assert len(answered) == STORM + 1, f"seed {seed}"  # one reply each (and one for the last, good command)
    assert len(statuses) == STORM and not server_errors, f"seed {seed}: " + "\n".join(server_errors)
    assert 'feedwatch_http_responses_total{code="5xx"}' not in metrics
    assert health.healthy and health.restarts == {}, health
    restart_lines = [r for r in caplog.records if r.getMessage().startswith("stage ") and " failed" in r.getMessage()]
    assert len(restart_lines) == sum(health.restarts.values()) == 0
    assert mqtt.publisher.failures == 0 and mqtt.publisher.rejected == 0
