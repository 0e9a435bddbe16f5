"""The service's faces: the HTTP API and web page, Prometheus metrics, the MQTT topics and commands, and Home
Assistant discovery. Each is an extension started by the service; they reach it only through its port."""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamer.lazy import lazy_exports

if TYPE_CHECKING:
    from .extensions import extensions_for as extensions_for
    from .http import HttpApi as HttpApi
    from .mqtt import MqttApi as MqttApi

else:  # type checkers see the imports above; at run time each name loads on first use
    __all__, __getattr__ = lazy_exports(
        __name__, {"extensions": ("extensions_for",), "http": ("HttpApi",), "mqtt": ("MqttApi",)}
    )
