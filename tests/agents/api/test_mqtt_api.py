"""The MQTT API against a real mosquitto: commands, asks, discovery, last will, and a broker outage."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agents import AlertEvent, AlertKind, validate_config
from tests.helpers import PERSON_CLIP, ROOT, Broker, Inbox, scaled, served, wait_until
from tests.helpers import payload_json as _json

pytestmark = pytest.mark.slow


def _config(broker: Broker, memory: Path, **mqtt: Any) -> Any:
    return validate_config(
        {
            "cameras": [{"id": "lobby", "url": str(PERSON_CLIP), "realtime": True, "loop": True}],
            "queries": [{"id": "person", "text": "a person"}],
            "scorer": {"backend": "activity"},
            "memory": {"path": str(memory)},
            "mqtt": {"enabled": True, "port": broker.port, "prefix": "fw", "discovery_prefix": "ha", **mqtt},
        }
    )


async def _command(client: aiomqtt.Client, topic: str, payload: bytes, reply: str, correlation: bytes) -> None:
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    props.ResponseTopic = reply
    props.CorrelationData = correlation
    await client.publish(topic, payload, qos=1, properties=props)


async def test_commands_asks_and_discovery(broker: Broker, inbox: Inbox, tmp_path: Path, media: Path) -> None:
    service, _ = served(_config(broker, tmp_path / "memory"), retry=True)
    task = asyncio.create_task(service.run())
    try:
        await inbox.wait_for("fw/available", lambda m: m.payload == b"online")
        status = _json(await inbox.wait_for("ha/binary_sensor/feedwatch_fw_lobby_status/config"))
        assert status["state_topic"] == "fw/lobby/status" and status["availability_topic"] == "fw/available"
        person = _json(await inbox.wait_for("ha/binary_sensor/feedwatch_fw_lobby_person/config"))
        assert person["state_topic"] == "fw/lobby/query/person/state" and person["payload_on"] == "ON"
        image = _json(await inbox.wait_for("ha/image/feedwatch_fw_lobby_person_snapshot/config"))
        assert image["image_topic"] == "fw/lobby/query/person/snapshot"
        problem = _json(await inbox.wait_for("ha/binary_sensor/feedwatch_fw_health/config"))
        assert problem["state_topic"] == "fw/health" and problem["device_class"] == "problem"
        assert "availability_topic" not in problem  # it must stay available while feedwatch says offline
        assert _json(await inbox.wait_for("fw/health"))["status"] == "ok"

        c = inbox.client
        await _command(c, "fw/queries/set", json.dumps({"id": "door", "text": "a person at the door"}).encode(),
                       "fw/reply/t1", b"c1")  # fmt: skip
        ok = await inbox.wait_for("fw/reply/t1")
        assert _json(ok)["ok"] is True and ok.properties.CorrelationData == b"c1"  # type: ignore[union-attr]
        listed = await inbox.wait_for("fw/queries", lambda m: b'"door"' in m.payload)
        assert [q["id"] for q in _json(listed)["queries"]] == ["person", "door"]
        await inbox.wait_for("ha/binary_sensor/feedwatch_fw_lobby_door/config")

        bad = [
            ("fw/queries/set", b"{not json", "not valid JSON"),
            ("fw/queries/set", json.dumps({"id": "big", "text": "x" * 9000}).encode(), "over the 8192-byte limit"),
            ("fw/queries/set", json.dumps({"id": "bad id!", "text": "t"}).encode(), "id:"),
            ("fw/queries/set", json.dumps({"id": "t", "text": "t", "cameras": ["attic"]}).encode(), "unknown camera"),
            ("fw/queries/ghost/delete", b"", "no standing query 'ghost'"),
            ("fw/ask", json.dumps({"question": ""}).encode(), "non-empty string"),
        ]
        for i, (topic, payload, words) in enumerate(bad):
            await _command(c, topic, payload, f"fw/reply/bad{i}", b"x")
            reply = _json(await inbox.wait_for(f"fw/reply/bad{i}"))
            assert reply["ok"] is False and words in reply["error"], (topic, reply)
        assert [q.id for q in service.queries()] == ["person", "door"]  # nothing changed

        await _command(c, "fw/queries/door/delete", b"", "fw/reply/t2", b"c2")
        assert _json(await inbox.wait_for("fw/reply/t2"))["ok"] is True
        await inbox.wait_for("fw/queries", lambda m: b'"door"' not in m.payload and b'"person"' in m.payload)
        await inbox.wait_for("ha/binary_sensor/feedwatch_fw_lobby_door/config", lambda m: m.payload == b"")

        await _command(c, "fw/ask", json.dumps({"question": "when was a person here?"}).encode(), "fw/reply/a1",
                       b"ask-1")  # fmt: skip
        answer = await inbox.wait_for("fw/reply/a1", timeout=30)
        assert answer.properties.CorrelationData == b"ask-1"  # type: ignore[union-attr]
        body = _json(answer)
        assert body["ok"] is True and "answer" in body and "citations" in body and "timings_ms" in body
        # An MQTT 3.1.1 client names its reply topic in the payload.
        async with aiomqtt.Client("127.0.0.1", broker.port, identifier="v311") as old:
            await old.publish("fw/ask", json.dumps({"question": "anything?", "reply_to": "fw/reply/v311"}), qos=1)
        assert _json(await inbox.wait_for("fw/reply/v311", timeout=30))["ok"] is True

        await _command(c, "fw/queries/set", json.dumps({"id": "visitor", "text": "a visitor"}).encode(),
                       "fw/reply/t3", b"c3")  # fmt: skip
        assert _json(await inbox.wait_for("fw/reply/t3"))["ok"] is True
    finally:
        service.stop()
        await asyncio.wait_for(task, scaled(20))
    # Run-time changes survive a restart.
    again, _ = served(_config(broker, tmp_path / "memory"), retry=True)
    task = asyncio.create_task(again.run())
    try:
        listed = await inbox.wait_for("fw/queries", lambda m: b'"visitor"' in m.payload)
        assert [q["id"] for q in _json(listed)["queries"]] == ["person", "visitor"]
    finally:
        again.stop()
        await asyncio.wait_for(task, scaled(20))


async def test_last_will_when_the_service_is_killed(broker: Broker, inbox: Inbox, tmp_path: Path, media: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"cameras: [{{id: lobby, url: '{PERSON_CLIP}', realtime: true, loop: true}}]\n"
        "queries: [{id: person, text: a person}]\n"
        f"memory: {{path: '{tmp_path / 'memory'}'}}\n"
        f"mqtt: {{enabled: true, port: {broker.port}, prefix: fw, keepalive_s: 5}}\n"
    )
    proc = subprocess.Popen([sys.executable, "-m", "agents.cli", "run", "--config", str(cfg)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        await inbox.wait_for("fw/available", lambda m: m.payload == b"online", timeout=30)
        proc.send_signal(signal.SIGKILL)
        # The process said nothing: the broker published the last will for it.
        await inbox.wait_for("fw/available", lambda m: m.payload == b"offline", timeout=30)
    finally:
        proc.kill()
        proc.wait()


def _blinking_clip(path: Path, seconds: int) -> Path:
    """A clip where a white box shows for 2 s every 4 s: a steady stream of alerts for the activity scorer."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"color=c=gray:s=160x120:r=5:d={seconds}",
         "-vf", "drawbox=x=30:y=20:w=90:h=80:color=white:t=fill:enable='lt(mod(t,4),2)'",
         "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )  # fmt: skip
    return path


async def test_broker_outage_loses_no_alert(tmp_path: Path) -> None:
    port_broker = Broker.on_free_port(tmp_path, persistence=True)
    port_broker.start()
    clip = _blinking_clip(tmp_path / "blink.mp4", 36)
    received: list[tuple[str, str, str]] = []
    done = asyncio.Event()

    async def subscribe() -> None:
        # A persistent session: the broker keeps QoS 1 messages for it across its own restart.
        while not done.is_set():
            try:
                async with aiomqtt.Client("127.0.0.1", port_broker.port, identifier="outage-sub",
                                          clean_session=False) as client:  # fmt: skip
                    await client.subscribe("fw/+/query/+/event", qos=1)
                    async for m in client.messages:
                        event = _json(m)
                        received.append((event["query_id"], event["id"], event["type"]))
            except aiomqtt.MqttError:
                await asyncio.sleep(0.2)

    listener = asyncio.create_task(subscribe())
    config = validate_config(
        {
            "cameras": [{"id": "lobby", "url": str(clip), "realtime": True}],
            "queries": [{"id": "box", "text": "a box"}, {"id": "thing", "text": "a thing"}],
            "scorer": {"backend": "activity"},
            "alerts": {"end_after_s": 1.0, "cooldown_s": 0.0, "hysteresis": 0.5},
            "memory": {"path": str(tmp_path / "memory")},
            "mqtt": {"enabled": True, "port": port_broker.port, "prefix": "fw", "discovery_prefix": None},
        }
    )
    produced: list[tuple[str, str, str]] = []

    async def collect(event: AlertEvent) -> None:
        alert = event.alert
        if alert.kind is not AlertKind.UPDATE:
            produced.append((alert.query_id, alert.id, alert.kind.value))

    service, _ = served(config, retry=False, on_alert=collect)
    task = asyncio.create_task(service.run())
    # Some alerts reach the subscriber through the broker; then the broker goes away while alerts keep coming.
    await wait_until(lambda: len(received) >= 2, what="alerts delivered before the outage")
    port_broker.stop()
    during = len(produced)
    await wait_until(lambda: len(produced) >= during + 6, what="alerts produced during the outage")
    port_broker.start()
    await asyncio.wait_for(task, scaled(60))
    wanted = set(produced)

    async def all_in() -> None:
        while not wanted <= {r for r in received if r[2] != "update"}:
            await asyncio.sleep(0.2)

    try:
        await asyncio.wait_for(all_in(), scaled(30))
    finally:
        done.set()
        listener.cancel()
        port_broker.stop()
    missing = wanted - set(received)
    assert not missing, f"lost {sorted(missing)}"
    for query in ("box", "thing"):
        first_seen: list[tuple[str, str, str]] = []
        for r in received:
            if r[0] == query and r[2] != "update" and r not in first_seen:
                first_seen.append(r)
        assert first_seen == [p for p in produced if p[0] == query], f"order of {query} changed"
    assert len(produced) >= 10


def _certificates(folder: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, made with the openssl CLI."""

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    f = {
        name: folder / name
        for name in ("ca.key", "ca.crt", "srv.key", "srv.csr", "srv.crt", "cli.key", "cli.csr", "cli.crt")
    }
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(f["ca.key"]), "-out", str(f["ca.crt"]),
        "-days", "2", "-subj", "/CN=feedwatch test CA")  # fmt: skip
    ext = folder / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    for who, cn in (("srv", "127.0.0.1"), ("cli", "feedwatch")):
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(f[f"{who}.key"]), "-out", str(f[f"{who}.csr"]),
            "-subj", f"/CN={cn}")  # fmt: skip
        run("x509", "-req", "-in", str(f[f"{who}.csr"]), "-CA", str(f["ca.crt"]), "-CAkey", str(f["ca.key"]),
            "-CAcreateserial", "-out", str(f[f"{who}.crt"]), "-days", "2", "-extfile", str(ext))  # fmt: skip
    return f


async def test_mutual_tls(tmp_path: Path) -> None:
    from streamer.transport import MqttPublisher, MqttSettings

    certs = _certificates(tmp_path)
    broker = Broker.on_free_port(tmp_path)
    tls = f"cafile {certs['ca.crt']}\ncertfile {certs['srv.crt']}\nkeyfile {certs['srv.key']}\n"
    broker.conf.write_text(broker.conf.read_text() + tls + "require_certificate true\n")
    broker.start()
    try:
        import ssl

        context = ssl.create_default_context(cafile=str(certs["ca.crt"]))
        context.load_cert_chain(str(certs["cli.crt"]), str(certs["cli.key"]))
        async with aiomqtt.Client("127.0.0.1", broker.port, tls_context=context) as sub:
            await sub.subscribe("tls/#", qos=1)
            settings = MqttSettings(
                port=broker.port, prefix="tls", tls_ca=str(certs["ca.crt"]), tls_cert=str(certs["cli.crt"]),
                tls_key=str(certs["cli.key"]),
            )  # fmt: skip
            async with MqttPublisher(settings) as publisher:
                assert await publisher.wait_connected(10)
                publisher.publish("tls/hello", b"over TLS", qos=1)

                async def first() -> aiomqtt.Message:
                    async for m in sub.messages:
                        if str(m.topic) == "tls/hello":
                            return m
                    raise AssertionError("no message")

                assert (await asyncio.wait_for(first(), scaled(10))).payload == b"over TLS"
            plain = MqttPublisher(MqttSettings(port=broker.port, prefix="plain"))
            async with plain:
                assert not await plain.wait_connected(2)  # no certificate, no connection
    finally:
        broker.stop()


async def test_state_changed_while_republishing_is_not_lost(broker: Broker) -> None:
    """A retained state that changes while the connect snapshot is being sent ends up as the broker's retained
    value. The change is made from inside the sending (a hook after the snapshot's first message), so the race
    happens every time, and the test checks that it did."""
    from streamer.transport import MqttPublisher, MqttSettings

    class RacingPublisher(MqttPublisher):
        raced = False

        async def _send_or_drop(self, client: aiomqtt.Client, msg: Any) -> bool:
            sent = await super()._send_or_drop(client, msg)
            if not self.raced and msg.topic.startswith("race/state/"):
                self.raced = True  # the snapshot is being sent: the state changes now
                self.publish("race/state/last", b"live", retain=True)
            return sent

    publisher = RacingPublisher(MqttSettings(port=broker.port, prefix="race"))
    for i in range(200):  # plenty of retained state to republish at connect
        publisher.publish(f"race/state/{i}", b"old", retain=True)
    publisher.publish("race/state/last", b"connecting", retain=True)  # in the snapshot, sent after the change
    async with publisher:
        assert await publisher.wait_connected(scaled(10))
        await wait_until(lambda: not publisher._queue, what="the queue to drain")
    assert publisher.raced
    # A subscriber that comes later reads what the broker retained: the change, not the snapshot's older value.
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="race-late") as late:
        await late.subscribe("race/state/last", qos=1)
        retained = await asyncio.wait_for(anext(aiter(late.messages)), scaled(10))
    assert retained.payload == b"live"
