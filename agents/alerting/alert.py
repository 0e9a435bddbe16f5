"""Alert events: one alert is a ``new``, some ``update`` and one ``end`` event sharing an ``id``."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

__all__ = ["Alert", "AlertKind", "with_snapshot_path"]


class AlertKind(enum.StrEnum):
    NEW = "new"
    UPDATE = "update"
    END = "end"


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert event. ``id`` is stable across the new/update/end events of one alert."""

    id: str
    kind: AlertKind
    camera: str
    query_id: str
    query_text: str
    start_pts: float
    end_pts: float
    start_wall: float
    end_wall: float
    peak_score: float
    peak_pts: float
    backend: str
    semantic: bool
    snapshot: bytes | None = None
    peak_seq: int = -1
    peak_wall: float = 0.0
    snapshot_path: str | None = None
    # The MP4 around the alert (on ``end`` events, once written) and what it holds (ClipInfo.to_dict()).
    clip_path: str | None = None
    clip_info: dict[str, object] | None = field(default=None, compare=False)
    # The zone the peak was seen in, for a zone-limited query.
    zone: str | None = None
    # Why an alert ended when it was not the footage (``scorer_unavailable``: its scorer was away too long).
    reason: str | None = None
    # The scorer's embedding of the peak frame, when the backend gives embeddings (for the memory).
    peak_embedding: NDArray[np.float32] | None = field(default=None, repr=False, compare=False)

    def to_payload(self) -> dict[str, object]:
        """The JSON payload published and printed (no image bytes)."""
        return {
            "schema": 1,
            "id": self.id,
            "type": self.kind.value,
            "camera": self.camera,
            "query_id": self.query_id,
            "query": self.query_text,
            "start": round(self.start_wall, 3),
            "end": round(self.end_wall, 3),
            "start_pts": round(self.start_pts, 3),
            "end_pts": round(self.end_pts, 3),
            "peak_score": round(self.peak_score, 2),
            "peak_pts": round(self.peak_pts, 3),
            "backend": self.backend,
            "semantic": self.semantic,
            "zone": self.zone,
            "snapshot": self.snapshot_path,
            "clip": self.clip_path,
            "clip_url": f"/api/alerts/{self.id}/clip.mp4" if self.clip_path else None,
            "clip_info": self.clip_info,
            "reason": self.reason,
        }


def with_snapshot_path(alert: Alert, path: str | None) -> Alert:
    """A copy of ``alert`` that names where its snapshot was saved."""
    return replace(alert, snapshot_path=path)
