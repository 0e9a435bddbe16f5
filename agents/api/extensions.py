"""The APIs a config turns on."""

from __future__ import annotations

import os

from ..config import FeedwatchConfig
from ..service.port import Extension
from .http import HttpApi
from .mqtt import MqttApi

__all__ = ["extensions_for"]


def extensions_for(config: FeedwatchConfig) -> list[Extension]:
    """MQTT when ``mqtt.enabled``, HTTP when ``http.enabled`` (raises ConfigError on an exposed port without token)."""
    extensions: list[Extension] = []
    if config.mqtt.enabled:
        extensions.append(MqttApi(config))
    if config.http.enabled:
        fleet_token = os.environ.get(config.fleet.token_env) or None if config.fleet.url else None
        extensions.append(HttpApi.from_config(config.http, fleet_token))
    return extensions
