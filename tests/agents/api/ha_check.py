"""Validate MQTT discovery configs with Home Assistant's own platform schemas. Run by the side venv that holds
``homeassistant`` (``.venv-ha``): reads ``[{"topic": ..., "config": {...}}, ...]`` on stdin, prints one line per
config, exits 1 if any is refused. The strict schema (unknown keys refused) is used, not the discovery one that
drops them silently."""

from __future__ import annotations

import importlib
import json
import sys


def main() -> int:
    failures = 0
    for item in json.load(sys.stdin):
        platform = item["topic"].split("/")[1]
        module = importlib.import_module(f"homeassistant.components.mqtt.{platform}")
        try:
            module.PLATFORM_SCHEMA_MODERN(item["config"])
            print(f"ok {item['topic']}")
        except Exception as exc:  # voluptuous raises its own Invalid family
            failures += 1
            print(f"REFUSED {item['topic']}: {exc}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
