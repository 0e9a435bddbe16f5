"""The configuration's shape: strict pydantic models, every field described, cross-field rules as validators."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from pydantic import Field, field_validator, model_validator

from .alerts import AlertSettings
from .apis import HttpConfig, MqttConfig
from .cameras import CameraConfig, OfflineHook
from .common import BACKEND_NAMES, Polygon, ScorerName, Strict, default_memory_dir
from .fleet import FleetSettings
from .qa import QAConfig
from .queries import QueryConfig
from .scorer import (
    ActivitySettings,
    EmbeddingSettings,
    GateSettings,
    GensSettings,
    OpenAIVLMSettings,
    ScorerConfig,
)
from .storage import BufferSettings, ClipSettings, MemorySettings

__all__ = [
    "BACKEND_NAMES",
    "ActivitySettings",
    "AlertSettings",
    "BufferSettings",
    "CameraConfig",
    "ClipSettings",
    "EmbeddingSettings",
    "FeedwatchConfig",
    "FleetSettings",
    "GateSettings",
    "GensSettings",
    "HttpConfig",
    "MemorySettings",
    "MqttConfig",
    "OfflineHook",
    "OpenAIVLMSettings",
    "Polygon",
    "QAConfig",
    "QueryConfig",
    "ScorerConfig",
    "ScorerName",
    "check_query_zones",
    "default_memory_dir",
    "zone_problem",
]


class FeedwatchConfig(Strict):
    """The whole service."""

    cameras: list[CameraConfig] = Field(default_factory=list, description="Cameras to watch.")
    queries: list[QueryConfig] = Field(default_factory=list, description="Standing questions.")
    scorer: ScorerConfig = Field(default_factory=ScorerConfig, description="Relevance scoring.")
    alerts: AlertSettings = Field(default_factory=AlertSettings, description="Alert policy.")
    buffer: BufferSettings = Field(default_factory=BufferSettings, description="Rolling frame buffer.")
    memory: MemorySettings = Field(default_factory=MemorySettings, description="Moment memory.")
    clips: ClipSettings = Field(default_factory=ClipSettings, description="Event clips (MP4 around each alert).")
    mqtt: MqttConfig = Field(default_factory=MqttConfig, description="MQTT publishing.")
    qa: QAConfig = Field(default_factory=QAConfig, description="Question answering.")
    http: HttpConfig = Field(default_factory=HttpConfig, description="HTTP API and web page.")
    fleet: FleetSettings = Field(default_factory=FleetSettings, description="This node's place in a fleet.")
    timezone: str | None = Field(
        default=None,
        description="IANA time zone of queries' active windows ('Europe/Berlin'); the machine's when unset.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str | None) -> str | None:
        if name is not None:
            try:
                zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {name!r}: use an IANA name like 'Europe/Berlin'") from None
        return name

    @field_validator("cameras", "queries")
    @classmethod
    def _unique_ids(cls, items: list[Any]) -> list[Any]:
        seen: set[str] = set()
        for item in items:
            if item.id in seen:
                raise ValueError(f"duplicate id {item.id!r}")
            seen.add(item.id)
        return items

    @model_validator(mode="after")
    def _known_cameras(self) -> FeedwatchConfig:
        known = {c.id for c in self.cameras}
        for q in self.queries:
            unknown = [c for c in (*q.cameras, *q.disarmed) if c not in known]
            if unknown:
                raise ValueError(f"query {q.id!r} names unknown camera(s) {unknown}; known: {sorted(known)}")
        check_query_zones(self.queries, self.cameras)
        return self


def zone_problem(
    query_id: str, zones: Sequence[str], applies_to: Callable[[str], bool], camera_zones: Mapping[str, Collection[str]]
) -> str | None:
    """Why a query looking at ``zones`` cannot run on the cameras it applies to (one lacks a zone); None if it can."""
    for camera, names in camera_zones.items():
        missing = [z for z in zones if z not in names]
        if missing and applies_to(camera):
            return (
                f"query {query_id!r} looks at zone(s) {missing}, which camera {camera!r} does not have (its zones: "
                f"{sorted(names)}); define them under cameras[].zones, or list only the query's cameras"
            )
    return None


def _applies(cameras: list[str]) -> Callable[[str], bool]:
    return lambda camera: not cameras or camera in cameras


def check_query_zones(queries: list[QueryConfig], cameras: list[CameraConfig]) -> None:
    """Every zone a query names exists on each camera the query applies to (:class:`ValueError` if not)."""
    camera_zones = {cam.id: list(cam.zones) for cam in cameras}
    for q in queries:
        problem = zone_problem(q.id, q.zones, _applies(q.cameras), camera_zones)
        if problem:
            raise ValueError(problem)
