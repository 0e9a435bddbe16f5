"""The cameras: where each one's video comes from, how it is sampled, its masks and zones, what runs when it is away."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from streamer.regions import Polygon as RegionPolygon
from streamer.urls import check_source_url

from .common import Identifier, Polygon, Strict


class OfflineHook(Strict):
    """A recovery command for a camera that stays away: run once it has been away ``after_s``, at most once per
    ``cooldown_s``, with the camera in its environment (FEEDWATCH_CAMERA, FEEDWATCH_CAMERA_SOURCE with credentials
    masked, FEEDWATCH_AWAY_S, FEEDWATCH_OUTAGE_CAUSE); its output goes to the log."""

    after_s: float = Field(default=120.0, gt=0, le=86400, description="Seconds away before the command runs.")
    command: list[str] = Field(
        min_length=1,
        description="The command and its arguments, run directly (not by a shell): ['/usr/local/bin/poe-cycle', '3'].",
    )
    cooldown_s: float = Field(default=600.0, ge=0, le=7 * 86400, description="Seconds before it may run again.")
    timeout_s: float = Field(
        default=60.0, gt=0, le=3600, description="Seconds the command may run before it is killed."
    )


class CameraConfig(Strict):
    """One camera: where its stream is and how to sample it."""

    id: Identifier = Field(description="Camera id used in topics, alerts and memory ('all' is reserved).")
    url: str = Field(
        min_length=1,
        max_length=4096,
        description="Stream URL (rtsp://, http(s)://, anything FFmpeg opens) or a local file path. "
        "Credentials may be embedded; they are never logged.",
    )
    fps: float = Field(default=1.0, gt=0, le=30, description="Frames sampled per second of stream time.")
    keyframes_only: bool = Field(
        default=False,
        description="Decode key frames only: much cheaper, sampling is then at most the GOP rate.",
    )
    rtsp_transport: Literal["tcp", "udp"] | None = Field(
        default=None, description="RTSP transport; FFmpeg's default (UDP, then TCP) when unset."
    )
    realtime: bool = Field(default=False, description="Pace a file at its own speed, as if it were a live camera.")
    loop: bool = Field(default=False, description="Replay a file from the start when it ends.")
    open_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="Seconds to wait for a stream to open the first time; reconnects start with 3 s and grow to this "
        "only if the camera is slow to answer.",
    )
    stall_s: float = Field(
        default=2.0,
        ge=0.5,
        le=300,
        description="A live camera that delivers no frame for this long (or for four of its frame intervals, if "
        "longer) is stalled, and its session is dropped and reopened at once.",
    )
    read_timeout_s: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="The longest a read ever waits for data, even for the slowest camera (four frame intervals are "
        "capped here); a live camera is given up on after its stall limit, usually much sooner.",
    )
    on_offline: OfflineHook | None = Field(
        default=None,
        description="A command to run when the camera has been away this long (reboot it, power-cycle its PoE port).",
    )
    masks: list[Polygon] = Field(
        default_factory=list,
        description="Privacy masks: polygons blacked out on every decoded frame before anything sees it (scoring, "
        "buffer, snapshots, thumbnails, asked frames, the page, clips).",
    )
    zones: dict[Identifier, Polygon] = Field(
        default_factory=dict,
        description="Named zones (polygons) a query can be limited to with queries[].zones.",
    )

    @field_validator("url")
    @classmethod
    def _parsable(cls, url: str) -> str:
        return check_source_url(url)

    @field_validator("id")
    @classmethod
    def _not_all(cls, camera: str) -> str:
        if camera == "all":
            raise ValueError("'all' is reserved (the MQTT topics for every camera); name the camera otherwise")
        return camera

    def mask_polygons(self) -> tuple[RegionPolygon, ...]:
        """The privacy masks, as the pixel code takes them."""
        return tuple(tuple(polygon) for polygon in self.masks)

    def zone_polygon(self, zone: str) -> RegionPolygon:
        return tuple(self.zones[zone])
