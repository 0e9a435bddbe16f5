"""Typed configuration: the settings' shape (:mod:`.models`) and reading them from YAML (:mod:`.loading`)."""

from __future__ import annotations

from .loading import format_validation_error, load_config, read_config_file, validate_config
from .models import (
    BACKEND_NAMES,
    ActivitySettings,
    AlertSettings,
    BufferSettings,
    CameraConfig,
    ClipSettings,
    EmbeddingSettings,
    FeedwatchConfig,
    GensSettings,
    HttpConfig,
    MemorySettings,
    MqttConfig,
    OfflineHook,
    OpenAIVLMSettings,
    QAConfig,
    QueryConfig,
    ScorerConfig,
    ScorerName,
    check_query_zones,
    default_memory_dir,
)

__all__ = [
    "BACKEND_NAMES",
    "ActivitySettings",
    "AlertSettings",
    "BufferSettings",
    "CameraConfig",
    "ClipSettings",
    "EmbeddingSettings",
    "FeedwatchConfig",
    "GensSettings",
    "HttpConfig",
    "MemorySettings",
    "MqttConfig",
    "OfflineHook",
    "OpenAIVLMSettings",
    "QAConfig",
    "QueryConfig",
    "ScorerConfig",
    "ScorerName",
    "check_query_zones",
    "default_memory_dir",
    "format_validation_error",
    "load_config",
    "read_config_file",
    "validate_config",
]
