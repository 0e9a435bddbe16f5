"""Alert and status publishing over MQTT: the topic layout of feedwatch's MQTT API."""

from __future__ import annotations

import json
import time

from streamer import CameraStatus, MqttPublisher, redact_url

from .alerts import Alert, AlertKind

__all__ = ["MqttAlertSink"]


class MqttAlertSink:
    """Publish alerts and camera state under ``<prefix>/``.

    - ``<prefix>/<camera>/status``: retained camera state.
    - ``<prefix>/<camera>/query/<query_id>/state``: retained ``ON`` while an alert is open, else ``OFF``.
    - ``<prefix>/<camera>/query/<query_id>/event``: QoS 1, not retained: new / update / end.
    - ``<prefix>/<camera>/query/<query_id>/snapshot``: retained JPEG of the best frame.
    """

    def __init__(self, publisher: MqttPublisher) -> None:
        self.publisher = publisher

    def camera_status(self, camera: str, status: CameraStatus, source: str | None = None) -> None:
        payload = {"schema": 1, "camera": camera, "status": status.value, "time": round(time.time(), 3)}
        if source is not None:
            payload["source"] = redact_url(source)
        self.publisher.publish(self.publisher.topic(camera, "status"), json.dumps(payload), retain=True)

    def query_state(self, camera: str, query_id: str, on: bool) -> None:
        topic = self.publisher.topic(camera, "query", query_id, "state")
        self.publisher.publish(topic, "ON" if on else "OFF", retain=True)

    async def __call__(self, alert: Alert) -> None:
        base = (alert.camera, "query", alert.query_id)
        if alert.kind is AlertKind.NEW:
            self.query_state(alert.camera, alert.query_id, True)
        if alert.snapshot is not None and alert.kind is not AlertKind.UPDATE:
            self.publisher.publish(self.publisher.topic(*base, "snapshot"), alert.snapshot, retain=True)
        self.publisher.publish(self.publisher.topic(*base, "event"), json.dumps(alert.to_payload()), qos=1)
        if alert.kind is AlertKind.END:
            self.query_state(alert.camera, alert.query_id, False)
