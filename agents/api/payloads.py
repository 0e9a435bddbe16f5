"""The JSON Schemas of what feedwatch publishes: one per MQTT payload kind and per event of the HTTP event stream,
in ``schemas/`` beside this module (shipped in the package, for consumers to validate against)."""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

__all__ = ["PAYLOAD_SCHEMAS", "payload_schema"]

# Schema name -> where its payloads are published.
PAYLOAD_SCHEMAS = {
    "mqtt-event": "MQTT <prefix>/<camera>/query/<query>/event",
    "mqtt-status": "MQTT <prefix>/<camera>/status (retained)",
    "mqtt-health": "MQTT <prefix>/health (retained)",
    "mqtt-outage": "MQTT <prefix>/<camera>/outage",
    "mqtt-queries": "MQTT <prefix>/queries (retained)",
    "sse-alert": "GET /api/events, event: alert",
    "sse-status": "GET /api/events, event: status",
    "sse-outage": "GET /api/events, event: outage",
    "sse-queries": "GET /api/events, event: queries",
}


def payload_schema(name: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) called ``name`` (a key of :data:`PAYLOAD_SCHEMAS`)."""
    if name not in PAYLOAD_SCHEMAS:
        raise KeyError(f"no payload schema {name!r}; known: {', '.join(PAYLOAD_SCHEMAS)}")
    schema: dict[str, Any] = json.loads(files("agents.api").joinpath("schemas", f"{name}.json").read_text())
    return schema
