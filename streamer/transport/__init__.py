"""Transport: the MQTT connection and its durable outbox, the HTTP server and the server-sent event hub."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

if TYPE_CHECKING:
    from .events import EventHub as EventHub
    from .http import BodyLimit as BodyLimit
    from .http import HttpServer as HttpServer
    from .http import JsonGuard as JsonGuard
    from .http import ResponseCounter as ResponseCounter
    from .http import is_loopback as is_loopback
    from .http import token_matches as token_matches
    from .mqtt import MessageHandler as MessageHandler
    from .mqtt import MqttPublisher as MqttPublisher
    from .mqtt import MqttSettings as MqttSettings
    from .mqtt import OutgoingMessage as OutgoingMessage
    from .outbox import Outbox as Outbox
    from .topics import TopicError as TopicError
    from .topics import check_topic as check_topic

else:  # type checkers see the imports above; at run time each name loads on first use
    __all__, __getattr__ = lazy_exports(
        __name__,
        {
            "events": ("EventHub",),
            "http": ("BodyLimit", "HttpServer", "JsonGuard", "ResponseCounter", "is_loopback", "token_matches"),
            "mqtt": ("MessageHandler", "MqttPublisher", "MqttSettings", "OutgoingMessage"),
            "outbox": ("Outbox",),
            "topics": ("TopicError", "check_topic"),
        },
    )
