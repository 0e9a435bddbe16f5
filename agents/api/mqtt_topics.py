"""Alert and status topics over MQTT: the state and events every subscriber (and Home Assistant) follows.

- ``<prefix>/<camera>/status``: retained camera state.
- ``<prefix>/<camera>/outage``: QoS 1, not retained, durable: ``offline`` when a camera goes away, ``back`` (with
  the outage's duration) when it has delivered frames again for a few seconds.
- ``<prefix>/<camera>/query/<query_id>/state``: retained ``ON`` while an alert is open, else ``OFF``.
- ``<prefix>/<camera>/query/<query_id>/event``: QoS 1, not retained, durable: new / update / end.
- ``<prefix>/<camera>/query/<query_id>/snapshot``: retained JPEG of the best frame.
- ``<prefix>/<camera-or-all>/query/<query_id>/armed``: retained ``ON`` / ``OFF``, whether it is watched there.
"""

from __future__ import annotations

import asyncio
import json
import time

from streamer.reader import CameraStatus, Outage
from streamer.redact import redact_url
from streamer.transport.mqtt import MqttPublisher

from ..alerting import AlertKind
from ..scoring import Query
from ..service.port import AlertEvent

__all__ = ["MqttAlertTopics"]


class MqttAlertTopics:
    """Publish alerts, camera status and query state under ``<prefix>/``."""

    def __init__(self, publisher: MqttPublisher, sources: dict[str, str]) -> None:
        self.publisher = publisher
        self.sources = sources  # camera -> stream URL, published redacted
        self._outage_order = asyncio.Lock()  # outage events leave in the order they happened
        # Per camera and query, the alerts whose ``new`` went out and whose ``end`` has not: an alert's ``new`` may
        # go out while the last one's ``end`` still waits for its clip, so the state follows these, not the order.
        self._open: dict[tuple[str, str], set[str]] = {}
        self._on: dict[tuple[str, str], bool] = {}  # the state last published by alerts

    def camera_status(self, camera: str, status: CameraStatus) -> None:
        payload = {"schema": 1, "camera": camera, "status": status.value, "time": round(time.time(), 3)}
        if self.publisher.settings.node:
            payload["node"] = self.publisher.settings.node  # the fleet's node that holds the camera
        source = self.sources.get(camera)
        if source is not None:
            payload["source"] = redact_url(source)
        self.publisher.publish(self.publisher.topic(camera, "status"), json.dumps(payload), retain=True)

    async def outage(self, outage: Outage) -> None:
        """``offline`` (end null) or ``back`` (with the duration), for automations that want to know how long."""
        payload = {"schema": 1, "event": "offline" if outage.end is None else "back", **outage.to_dict()}
        async with self._outage_order:
            await self.publisher.publish_durable(self.publisher.topic(outage.camera, "outage"), json.dumps(payload))

    def query_state(self, camera: str, query_id: str, on: bool) -> None:
        topic = self.publisher.topic(camera, "query", query_id, "state")
        self.publisher.publish(topic, "ON" if on else "OFF", retain=True)

    def query_off_everywhere(self, queries: list[Query], cameras: list[str]) -> None:
        """``OFF`` for every query on every camera it applies to (at start, and for a query just added)."""
        for query in queries:
            for camera in cameras:
                if query.applies_to(camera):
                    self._on[(camera, query.id)] = False
                    self.query_state(camera, query.id, False)

    def armed_states(self, queries: list[Query], cameras: list[str]) -> None:
        """The retained armed state of every query, on all cameras and on each one it applies to."""
        for query in queries:
            self.publisher.publish(
                self.publisher.topic("all", "query", query.id, "armed"), _on(query.armed), retain=True
            )
            for camera in cameras:
                if query.applies_to(camera):
                    topic = self.publisher.topic(camera, "query", query.id, "armed")
                    self.publisher.publish(topic, _on(query.armed_on(camera)), retain=True)

    async def alert(self, event: AlertEvent) -> None:
        """The event, and the query's retained state and snapshot: ``ON`` from the first open alert's ``new``,
        ``OFF`` at the last one's ``end``; the snapshot of a ``new``, or of an ``end`` that leaves none open (an end
        that comes after a newer alert opened leaves that one's snapshot and state).

        Ends are published from their own tasks (each waits for its clip), so calls interleave at the ``await``:
        what the state says is decided from the open alerts as they are at each step, never from a stale copy."""
        alert = event.alert
        key = (alert.camera, alert.query_id)
        base = (alert.camera, "query", alert.query_id)
        open_ids = self._open.setdefault(key, set())
        if alert.kind is AlertKind.NEW:
            open_ids.add(alert.id)
            self._set_state(key, True)
        elif alert.kind is AlertKind.END:
            open_ids.discard(alert.id)
        newest = alert.kind is AlertKind.NEW or (alert.kind is AlertKind.END and not open_ids)
        if alert.snapshot is not None and newest:
            self.publisher.publish(self.publisher.topic(*base, "snapshot"), alert.snapshot, retain=True)
        await self.publisher.publish_durable(self.publisher.topic(*base, "event"), event.text, qos=1)
        if alert.kind is AlertKind.END and not self._open.get(key):  # after the event: a reader of OFF has the end
            self._set_state(key, False)

    def _set_state(self, key: tuple[str, str], on: bool) -> None:
        """Publish the query's state where it changes."""
        if self._on.get(key, False) != on:
            self._on[key] = on
            self.query_state(key[0], key[1], on)


def _on(flag: bool) -> str:
    return "ON" if flag else "OFF"
