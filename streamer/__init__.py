"""Pixels and transport: sources, sampling, the rolling buffer, and the MQTT and HTTP plumbing."""

from .buffer import BufferStats, FrameBuffer
from .errors import ConfigError, FeedwatchError, MemoryStoreError, ModelError, PublishError, SourceError
from .frames import Frame, Window, encode_jpeg
from .http import BodyLimit, EventHub, HttpServer, is_loopback, token_matches
from .mqtt import MessageHandler, MqttPublisher, MqttSettings, OutgoingMessage
from .outbox import Outbox
from .reader import Backoff, CameraReader, CameraStatus, OverflowPolicy, ReaderStats
from .redact import redact_text, redact_url
from .sampling import RateSampler
from .source import FrameDecoder, SourceOptions, is_file_source, open_container, probe

__all__ = [
    "Backoff",
    "BodyLimit",
    "BufferStats",
    "CameraReader",
    "CameraStatus",
    "ConfigError",
    "EventHub",
    "FeedwatchError",
    "Frame",
    "FrameBuffer",
    "FrameDecoder",
    "HttpServer",
    "MemoryStoreError",
    "MessageHandler",
    "ModelError",
    "MqttPublisher",
    "MqttSettings",
    "Outbox",
    "OutgoingMessage",
    "OverflowPolicy",
    "PublishError",
    "RateSampler",
    "ReaderStats",
    "SourceError",
    "SourceOptions",
    "Window",
    "encode_jpeg",
    "is_file_source",
    "is_loopback",
    "open_container",
    "probe",
    "redact_text",
    "redact_url",
    "token_matches",
]
