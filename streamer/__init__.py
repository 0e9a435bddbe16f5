"""Pixels and transport: sources, sampling, the rolling buffer, and the MQTT plumbing."""

from .buffer import BufferStats, FrameBuffer
from .errors import ConfigError, FeedwatchError, MemoryStoreError, ModelError, PublishError, SourceError
from .frames import Frame, Window, encode_jpeg
from .mqtt import MessageHandler, MqttPublisher, MqttSettings, OutgoingMessage
from .outbox import Outbox
from .reader import Backoff, CameraReader, CameraStatus, OverflowPolicy, ReaderStats
from .redact import redact_text, redact_url
from .sampling import RateSampler
from .source import FrameDecoder, SourceOptions, is_file_source, open_container, probe

__all__ = [
    "Backoff",
    "BufferStats",
    "CameraReader",
    "CameraStatus",
    "ConfigError",
    "FeedwatchError",
    "Frame",
    "FrameBuffer",
    "FrameDecoder",
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
    "open_container",
    "probe",
    "redact_text",
    "redact_url",
]
