"""What the memory holds: moments, their keyframes, and moments found by similarity."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

__all__ = ["Feedback", "Keyframe", "Moment", "SimilarMoment"]


@dataclass(frozen=True, slots=True)
class Keyframe:
    """One remembered frame of a moment: its time, thumbnail, and embedding when a model gave one."""

    wall: float
    pts: float
    thumbnail: str | None = None
    embedding: NDArray[np.float32] | None = None


@dataclass(frozen=True, slots=True)
class Moment:
    """A remembered span of one camera, with the queries it matched and their peak scores.

    ``kind`` is ``alert`` for a moment a standing query found and ``context`` for a keyframe kept
    because the scene changed markedly (so questions nobody set a query for can still be answered).
    """

    id: str
    camera: str
    start_wall: float
    end_wall: float
    start_pts: float
    end_pts: float
    backend: str
    semantic: bool
    peak: float
    queries: dict[str, float] = field(default_factory=dict)
    query_texts: dict[str, str] = field(default_factory=dict)
    thumbnail: str | None = None
    kind: str = "alert"
    clip: str | None = None  # the MP4 around it, when one was written
    # What the clip holds (span, codec, size, gaps where the camera reconnected), as ClipInfo.to_dict() gives it.
    clip_info: dict[str, object] | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "camera": self.camera,
            "kind": self.kind,
            "start": round(self.start_wall, 3),
            "end": round(self.end_wall, 3),
            "start_pts": round(self.start_pts, 3),
            "end_pts": round(self.end_pts, 3),
            "backend": self.backend,
            "semantic": self.semantic,
            "peak_score": round(self.peak, 2),
            "queries": {k: round(v, 2) for k, v in self.queries.items()},
            "query_texts": dict(self.query_texts),
            "thumbnail": self.thumbnail,
            "clip": self.clip,
            "clip_info": self.clip_info,
        }


@dataclass(frozen=True, slots=True)
class Feedback:
    """A user's mark on an alert: whether it matched its query. ``vector`` is the scorer's embedding of the alert's
    peak frame, when the backend gives embeddings (the calibration's example)."""

    moment_id: str
    query_id: str
    match: bool
    at: float
    vector: NDArray[np.float32] | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, object]:
        return {"id": self.moment_id, "query_id": self.query_id, "match": self.match, "at": round(self.at, 3)}


@dataclass(frozen=True, slots=True)
class SimilarMoment:
    """A moment found by similarity, with the keyframe that matched and how well."""

    moment: Moment
    keyframe_wall: float
    similarity: float
