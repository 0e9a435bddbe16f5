"""What is kept: the rolling frame buffer, the memory of moments, and the clips around alerts."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator

from .common import Strict, default_memory_dir


class BufferSettings(Strict):
    """The rolling frame buffer of each camera."""

    seconds: float = Field(default=300.0, gt=0, le=86400, description="Stream time kept per camera (at most a day).")
    max_mb: float = Field(default=256.0, gt=0, le=65536, description="Memory cap per camera, MiB (at most 64 GiB).")


def postgres_url(url: str | None) -> str | None:
    """A PostgreSQL URL as given, None for none; :class:`ValueError` for anything else."""
    if url is not None and not url.startswith(("postgresql://", "postgres://")):
        raise ValueError("must be a PostgreSQL URL (postgresql://user:password@host:port/database)")
    return url or None


class MemorySettings(Strict):
    """Where moments are remembered and for how long."""

    path: Path = Field(default_factory=default_memory_dir, description="Memory folder (SQLite, thumbnails).")
    url: str | None = Field(
        default=None,
        description=(
            "A PostgreSQL database with pgvector to remember in instead of the folder's SQLite and FAISS "
            "(postgresql://user:password@host/db; a fleet of nodes shares one). Snapshots and clips are still "
            "written under path."
        ),
    )
    retention_days: float = Field(
        default=30.0, gt=0, le=36500, description="Moments older than this are evicted (at most a century)."
    )
    max_mb: float = Field(
        default=2048.0,
        gt=0,
        le=2**24,
        description="Total size cap of the memory, MiB (at most 16 TiB); oldest go first.",
    )

    @field_validator("url")
    @classmethod
    def _postgres(cls, url: str | None) -> str | None:
        return postgres_url(url)


class ClipSettings(Strict):
    """Event clips: each camera's compressed stream kept in memory, remuxed into an MP4 around every alert."""

    enabled: bool = Field(default=True, description="Keep packets and write a clip for every alert.")
    pre_s: float = Field(default=5.0, ge=0, le=300, description="Seconds of video before an alert's start.")
    post_s: float = Field(default=5.0, ge=0, le=300, description="Seconds of video after an alert's end.")
    max_s: float = Field(
        default=120.0, gt=0, le=3600, description="Longest clip, seconds; a longer alert's clip is cut here."
    )
    keep_s: float = Field(
        default=180.0,
        gt=0,
        le=3600,
        description="Seconds of packets kept per camera: pre_s plus the longest alert you expect to clip whole.",
    )
    keep_mb: float = Field(
        default=96.0, gt=0, le=65536, description="Memory cap of the kept packets per camera, MiB (oldest go first)."
    )

    @model_validator(mode="after")
    def _fits(self) -> ClipSettings:
        if self.keep_s < self.pre_s + self.post_s:
            raise ValueError(f"keep_s ({self.keep_s:g}) must be at least pre_s + post_s ({self.pre_s + self.post_s:g})")
        return self
