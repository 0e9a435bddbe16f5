"""The MQTT API of a running service: alert and status topics, commands, Home Assistant discovery.

One connection (:class:`~streamer.transport.mqtt.MqttPublisher`) with a last will; after each connect the
retained state (camera status, query state, the query list, discovery) is republished before ``online``.

Health: ``<prefix>/health`` (retained) says ``{"status": "ok" | "unhealthy", "problems": ..., "restarts": ...}``;
while the service is unhealthy ``<prefix>/available`` says ``offline``, so Home Assistant shows its entities as
unavailable rather than quiet. The command topics exist only with ``mqtt.commands: true``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging

from streamer.reader import CameraStatus, Outage
from streamer.transport.mqtt import MqttPublisher, MqttSettings

from ..config import FeedwatchConfig
from ..service.health import HealthReport
from ..service.port import ServicePort
from .discovery import HomeAssistantDiscovery
from .mqtt_commands import MqttCommands
from .mqtt_topics import MqttAlertTopics

__all__ = ["MqttApi", "mqtt_settings"]

log = logging.getLogger(__name__)


def mqtt_settings(cfg: FeedwatchConfig) -> MqttSettings:
    """The connection settings of ``cfg.mqtt``; the durable outbox lives in the memory folder."""
    m = cfg.mqtt
    return MqttSettings(
        host=m.host,
        port=m.port,
        prefix=m.prefix,
        client_id=m.client_id,
        node=cfg.fleet.node_id if cfg.fleet.url else None,
        username=m.username,
        password=m.password,
        qos=m.qos,
        keepalive_s=m.keepalive_s,
        tls_ca=str(m.tls_ca) if m.tls_ca else None,
        tls_cert=str(m.tls_cert) if m.tls_cert else None,
        tls_key=str(m.tls_key) if m.tls_key else None,
        outbox=str(cfg.memory.path / "mqtt-outbox.sqlite") if m.outbox else None,
    )


class MqttApi:
    """An extension of the service: everything feedwatch says and hears over MQTT."""

    def __init__(self, config: FeedwatchConfig) -> None:
        self.settings = mqtt_settings(config)
        self.discovery_prefix = config.mqtt.discovery_prefix or None
        self.commands = config.mqtt.commands
        self.replies_under = config.mqtt.replies_under
        self.publisher: MqttPublisher | None = None

    async def start(self, port: ServicePort, stack: contextlib.AsyncExitStack) -> None:
        publisher = self.publisher = MqttPublisher(self.settings)
        cameras = port.camera_ids()  # kept up to date: a reload adds and removes cameras
        topics = MqttAlertTopics(publisher, {c.id: c.url for c in port.config.cameras})
        discovery = HomeAssistantDiscovery(publisher, self.discovery_prefix) if self.discovery_prefix else None
        if self.commands:
            MqttCommands(port, publisher, replies_under=self.replies_under)
        known = {q.id for q in port.queries()}
        health = port.health

        def health_changed(report: HealthReport) -> None:
            publisher.publish(
                publisher.node_topic("health"), json.dumps({"schema": 1, **report.to_dict()}), retain=True
            )
            if (publisher.availability == b"online") != report.healthy:
                publisher.set_available(report.healthy)

        publisher.on_problem(lambda text: health.problem("mqtt", text))
        for name, doc, read in [
            ("mqtt_rejected", "MQTT messages refused by the client library or the broker, dropped.", "rejected"),
            ("mqtt_dropped", "MQTT messages dropped because the queue was full.", "dropped"),
            ("mqtt_failures", "Times the MQTT publisher failed on a bug and restarted.", "failures"),
            (
                "mqtt_outbox_failures",
                "Events the outbox could not store (its disk full): sent from memory only.",
                "outbox_failures",
            ),
        ]:
            health.count(name, doc, functools.partial(lambda attr: float(getattr(publisher, attr)), read))
        health.listen(health_changed)
        health_changed(health.report())

        def publish_queries() -> None:
            queries = port.queries()
            payload = {"schema": 1, "queries": [q.to_dict() for q in queries]}
            publisher.publish(publisher.topic("queries"), json.dumps(payload), retain=True)
            topics.armed_states(queries, cameras)
            if discovery is not None:
                discovery.publish(cameras, queries, commands=self.commands)

        def queries_changed() -> None:
            added = [c for c in port.camera_ids() if c not in cameras]
            cameras[:] = port.camera_ids()
            topics.sources = {c.id: c.url for c in port.config.cameras}
            current = port.queries()
            topics.query_off_everywhere([q for q in current if q.id not in known], cameras)  # new ones start OFF
            topics.query_off_everywhere(current, added)  # and on cameras a reload added
            known.clear()
            known.update(q.id for q in current)
            publish_queries()

        for report in port.camera_reports():
            topics.camera_status(report.camera, CameraStatus(report.status))
        topics.query_off_everywhere(port.queries(), cameras)
        publish_queries()
        publisher.on_connect(publish_queries)
        port.on_status(topics.camera_status)
        outage_events: set[asyncio.Task[None]] = set()

        async def send_outage(event: Outage) -> None:
            try:
                await topics.outage(event)
            except Exception:  # the outbox failed (a full disk, say): say so, keep the service up
                log.exception("camera %s: could not queue its outage event", event.camera)

        def outage(event: Outage) -> None:
            task = asyncio.create_task(send_outage(event), name=f"mqtt-outage-{event.camera}")
            outage_events.add(task)
            task.add_done_callback(outage_events.discard)

        port.on_outage(outage)
        port.on_alert(topics.alert)
        port.on_queries(queries_changed)
        await stack.enter_async_context(publisher)
