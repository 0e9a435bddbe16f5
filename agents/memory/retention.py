"""Retention: forget moments by age, then oldest first by size, and give the disk back.

``memory.max_mb`` caps what retention can free: the moments' thumbnails, clips, vector records and rows. The
memory folder holds other things that are not moments (the MQTT outbox, frames cited by answers, the vector
index layout, the database's own slack): they are reported beside the figure, never counted against it,
so a large outbox can never make retention forget every moment and still be over.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from .backend import Memory
from .store import ROW_BYTES

__all__ = ["DiskUsage", "disk_usage", "prune"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DiskUsage:
    """Bytes the moments take (what retention can free) and what else the folder holds, by kind."""

    moments: int
    other: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        parts = [f"{name} {size / 2**20:.1f} MiB" for name, size in sorted(self.other.items()) if size]
        return ", ".join(parts) or "nothing else"


def _kind(relative: Path) -> str:
    top = relative.parts[0]
    if top.startswith("mqtt-outbox"):
        return "MQTT outbox"
    if top == "asked":
        return "frames cited by answers"
    if top == "moments.sqlite" or top.startswith("moments.sqlite-"):
        return "database"
    if top == "vectors" and relative.parts[1:2] != ("shards",):
        return "vector index layout"
    return "other files"


def disk_usage(memory: Memory) -> DiskUsage:
    """What the moments take, and what else the folder holds (files that are not moments' data)."""
    moments = sum(size for _, size in memory.footprints())
    other: dict[str, int] = {}
    for path in memory.path.rglob("*"):
        relative = path.relative_to(memory.path)
        moments_data = relative.parts[0] in ("thumbs", "clips") or relative.parts[:2] == ("vectors", "shards")
        if not path.is_file() or moments_data:
            continue
        kind = _kind(relative)
        other[kind] = other.get(kind, 0) + path.stat().st_size
    if "database" in other:  # the rows are the moments'; the rest of the file is the database's own
        other["database"] = max(0, other["database"] - memory.count() * ROW_BYTES)
    return DiskUsage(moments, other)


def prune(memory: Memory, *, max_age_s: float, max_bytes: int, now: float | None = None) -> int:
    """Forget moments older than ``max_age_s``, then the oldest until the moments fit ``max_bytes``.

    Returns how many were forgotten; the vector shards are compacted and the database vacuumed after."""
    now = time.time() if now is None else now
    victims = memory.expired(now - max_age_s)
    doomed = set(victims)
    footprints = list(memory.footprints())
    total = sum(size for _, size in footprints)
    for moment_id, size in footprints:
        if total <= max_bytes:
            break
        if moment_id not in doomed:
            victims.append(moment_id)
            doomed.add(moment_id)
        total -= size
    if not victims:
        return 0
    removed = memory.delete(victims)
    memory.compact()
    usage = disk_usage(memory)
    log.info(
        "memory: forgot %d moment(s); moments now take %.1f MiB of %.1f MiB; the folder also holds %s (not counted)",
        removed,
        usage.moments / 2**20,
        max_bytes / 2**20,
        usage.describe(),
    )
    return removed
