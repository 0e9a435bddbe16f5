"""The alert policy: per-frame scores become alerts with a start, an end and a peak.

Per camera and query, an alert opens (``new``) when a frame's score reaches the query's threshold,
stays open while scores stay at or above ``threshold - hysteresis``, and ends (``end``) once they
have stayed below that for ``end_after_s`` seconds of stream time. While open it sends ``update``
events when the peak rises, at most once per ``update_interval_s``. After an end, no new alert
opens for ``cooldown_s``. All times are the frames' own, so a replayed file and a live feed behave
the same.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from streamer.frames import Frame

from ..config import AlertSettings
from ..scoring import Query
from .alert import Alert, AlertKind

__all__ = ["AlertPolicy"]

_NAMESPACE = uuid.UUID("5b7f2a8e-51b0-4a7e-9d6e-0f3c2b1d9a11")


@dataclass(slots=True)
class _Open:
    id: str
    start: Frame
    last_relevant: Frame
    peak: Frame
    peak_score: float
    last_update_pts: float
    reported_peak: float
    peak_embedding: NDArray[np.float32] | None
    peak_zone: str | None = None


class AlertPolicy:
    """Turn one camera's scores for one query into alert events. Feed frames in time order."""

    def __init__(self, camera: str, query: Query, settings: AlertSettings) -> None:
        self.camera = camera
        self.query = query
        self.settings = settings
        self._open: _Open | None = None
        self._closed_at: float | None = None

    @property
    def is_open(self) -> bool:
        return self._open is not None

    def feed(
        self, frame: Frame, score: float, backend: str, semantic: bool, embedding: NDArray[np.float32] | None = None,
        *, zone: str | None = None,
    ) -> list[Alert]:  # fmt: skip
        """Account for one frame's score (and its embedding, and the zone it was scored on, if any); return the
        events it causes (often none)."""
        threshold = self.query.threshold
        stay = threshold - self.settings.hysteresis
        cur = self._open
        if cur is None:
            cooling = self._closed_at is not None and frame.pts - self._closed_at < self.settings.cooldown_s
            if score >= threshold and not cooling:
                alert_id = uuid.uuid5(_NAMESPACE, f"{self.camera}/{self.query.id}/{frame.wall:.3f}").hex[:16]
                self._open = _Open(alert_id, frame, frame, frame, score, frame.pts, score, embedding, zone)
                return [self._event(AlertKind.NEW, backend, semantic)]
            return []
        if score >= stay:
            cur.last_relevant = frame
            if score > cur.peak_score:
                cur.peak, cur.peak_score, cur.peak_embedding, cur.peak_zone = frame, score, embedding, zone
            due = frame.pts - cur.last_update_pts >= self.settings.update_interval_s
            if due and cur.peak_score > cur.reported_peak:
                cur.last_update_pts = frame.pts
                cur.reported_peak = cur.peak_score
                return [self._event(AlertKind.UPDATE, backend, semantic)]
            return []
        if frame.pts - cur.last_relevant.pts >= self.settings.end_after_s:
            return [self._close(frame.pts, backend, semantic)]
        return []

    def flush(self, backend: str, semantic: bool, reason: str | None = None) -> list[Alert]:
        """End an open alert now (end of stream, shutdown, query removed; ``reason`` says why when it is not the
        footage: ``scorer_unavailable``)."""
        if self._open is None:
            return []
        return [self._close(self._open.last_relevant.pts, backend, semantic, reason)]

    def _close(self, now_pts: float, backend: str, semantic: bool, reason: str | None = None) -> Alert:
        event = dataclasses.replace(self._event(AlertKind.END, backend, semantic), reason=reason)
        self._open = None
        self._closed_at = now_pts
        return event

    def _event(self, kind: AlertKind, backend: str, semantic: bool) -> Alert:
        cur = self._open
        assert cur is not None
        return Alert(
            id=cur.id,
            kind=kind,
            camera=self.camera,
            query_id=self.query.id,
            query_text=self.query.text,
            start_pts=cur.start.pts,
            end_pts=cur.last_relevant.pts,
            start_wall=cur.start.wall,
            end_wall=cur.last_relevant.wall,
            peak_score=cur.peak_score,
            peak_pts=cur.peak.pts,
            backend=backend,
            semantic=semantic,
            snapshot=cur.peak.snapshot,
            peak_seq=cur.peak.seq,
            peak_wall=cur.peak.wall,
            peak_embedding=cur.peak_embedding,
            zone=cur.peak_zone,
        )
