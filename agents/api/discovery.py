"""Home Assistant MQTT discovery: each camera a connectivity sensor, each camera and standing query an occupancy
sensor following its state topic, and its snapshot an image entity; with the command topics on, a switch arming
each query per camera and on all cameras. Entities of deleted queries are removed.

One more, a problem sensor following ``<prefix>/health``, has no availability topic: while feedwatch is unhealthy
(and says ``offline``, so the others show as unavailable) it stays, ``ON``, with the problems as attributes.

In a fleet every node has its own availability topic: a camera's entities follow the node that holds the camera
(the node that claims it publishes them again, naming its own topic), so they show as unavailable when that node
dies and come back when another takes the camera. Each node adds a connectivity sensor following its
availability topic and a problem sensor following its own ``<prefix>/node/<node>/health``. A node removes the
entities of queries that are gone for the cameras it holds, never those of a camera it let go (another node
holds it now); the switches that arm a query on all cameras have no availability topic, as any node obeys
them."""

from __future__ import annotations

import json
from typing import Any

from streamer.transport.mqtt import MqttPublisher

from ..scoring import Query

__all__ = ["HomeAssistantDiscovery"]


def _switch(p: MqttPublisher, camera: str, q: Query, uid: str, common: dict[str, Any]) -> dict[str, Any]:
    """A switch that arms ``q`` on ``camera`` (or on ``all``), following its retained armed state."""
    where = "all cameras" if camera == "all" else camera
    return {
        "name": f"{where}: {q.text} (armed)", "unique_id": uid, "icon": "mdi:shield-check",
        "command_topic": p.topic(camera, "query", q.id, "armed", "set"),
        "state_topic": p.topic(camera, "query", q.id, "armed"), "payload_on": "ON", "payload_off": "OFF",
        "state_on": "ON", "state_off": "OFF", "optimistic": False, **common,
    }  # fmt: skip


_LIVE_TEMPLATE = "{{ 'ON' if value_json.status == 'live' else 'OFF' }}"
_PROBLEM_TEMPLATE = "{{ 'OFF' if value_json.status == 'ok' else 'ON' }}"
_PROBLEMS_TEMPLATE = "{{ value_json.problems | tojson }}"


class HomeAssistantDiscovery:
    """Publish (retained) discovery configs under ``discovery_prefix``; empty them for entities that are gone."""

    def __init__(self, publisher: MqttPublisher, discovery_prefix: str) -> None:
        self.publisher = publisher
        self.prefix = discovery_prefix
        self._published: dict[str, str | None] = {}  # config topic -> its camera (None: not a camera's)

    def publish(self, cameras: list[str], queries: list[Query], *, commands: bool = False) -> None:
        p = self.publisher
        name = p.settings.prefix
        node = p.settings.node
        device = {"identifiers": [f"feedwatch_{name}"], "name": f"feedwatch ({name})", "manufacturer": "feedwatch"}
        common = {"device": device, "availability_topic": p.available_topic}
        configs: dict[str, dict[str, Any]] = {}
        owner: dict[str, str | None] = {}
        uid = f"feedwatch_{name}_{node}_health" if node else f"feedwatch_{name}_health"
        configs[f"{self.prefix}/binary_sensor/{uid}/config"] = {
            "name": f"{node} problem" if node else "problem", "unique_id": uid, "device_class": "problem",
            "entity_category": "diagnostic", "state_topic": p.node_topic("health"),
            "value_template": _PROBLEM_TEMPLATE, "device": device, "json_attributes_topic": p.node_topic("health"),
            "json_attributes_template": _PROBLEMS_TEMPLATE,
        }  # fmt: skip
        if node:
            uid = f"feedwatch_{name}_{node}_node"
            configs[f"{self.prefix}/binary_sensor/{uid}/config"] = {
                "name": f"node {node}", "unique_id": uid, "device_class": "connectivity", "entity_category":
                "diagnostic", "state_topic": p.available_topic, "payload_on": "online", "payload_off": "offline",
                "device": device,
            }  # fmt: skip
        for cam in cameras:
            before = set(configs)
            uid = f"feedwatch_{name}_{cam}_status"
            configs[f"{self.prefix}/binary_sensor/{uid}/config"] = {
                "name": f"{cam} camera", "unique_id": uid, "device_class": "connectivity",
                "state_topic": p.topic(cam, "status"), "value_template": _LIVE_TEMPLATE, **common,
            }  # fmt: skip
            for q in queries:
                if not q.applies_to(cam):
                    continue
                uid = f"feedwatch_{name}_{cam}_{q.id}"
                configs[f"{self.prefix}/binary_sensor/{uid}/config"] = {
                    "name": f"{cam}: {q.text}", "unique_id": uid, "device_class": "occupancy",
                    "state_topic": p.topic(cam, "query", q.id, "state"), "payload_on": "ON", "payload_off": "OFF",
                    **common,
                }  # fmt: skip
                configs[f"{self.prefix}/image/{uid}_snapshot/config"] = {
                    "name": f"{cam}: {q.text} (snapshot)", "unique_id": f"{uid}_snapshot",
                    "image_topic": p.topic(cam, "query", q.id, "snapshot"), "content_type": "image/jpeg", **common,
                }  # fmt: skip
                if commands:
                    configs[f"{self.prefix}/switch/{uid}_armed/config"] = _switch(p, cam, q, f"{uid}_armed", common)
            owner.update(dict.fromkeys(set(configs) - before, cam))
        if commands:  # arming needs the command topics
            everywhere = {"device": device} if node else common  # in a fleet every node obeys it
            for q in queries:
                uid = f"feedwatch_{name}_all_{q.id}_armed"
                configs[f"{self.prefix}/switch/{uid}/config"] = _switch(p, "all", q, uid, everywhere)
        for topic, config in configs.items():
            p.publish(topic, json.dumps(config), retain=True)
        held = set(cameras)
        for gone, of in self._published.items():
            if gone in configs:
                continue
            if node and of is not None and of not in held:
                continue  # a camera this node let go: another node holds it and publishes its entities
            p.publish(gone, b"", retain=True)  # entities of deleted queries and cameras disappear
        self._published = {topic: owner.get(topic) for topic in configs}
