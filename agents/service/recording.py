"""Turning alerts and context keyframes into remembered moments (snapshots, keyframes, embeddings)."""

from __future__ import annotations

from ..alerting import Alert, AlertKind, ContextKeyframe, with_snapshot_path
from ..memory.backend import Memory
from ..memory.records import Keyframe, Moment

__all__ = ["MomentRecorder"]


class MomentRecorder:
    """Write what the pipeline decides to remember. Blocking (disk): call it from a worker thread."""

    def __init__(self, memory: Memory) -> None:
        self.memory = memory
        self.moments = 0
        self.context = 0

    def alert(self, alert: Alert) -> Alert:
        """Save the alert's snapshot; when it ends, store its moment. Returns the alert with its snapshot path."""
        path = self.memory.save_snapshot(alert.id, alert.snapshot) if alert.snapshot is not None else None
        alert = with_snapshot_path(alert, path)
        if alert.kind is AlertKind.END:
            moment = Moment(
                id=alert.id,
                camera=alert.camera,
                start_wall=alert.start_wall,
                end_wall=alert.end_wall,
                start_pts=alert.start_pts,
                end_pts=alert.end_pts,
                backend=alert.backend,
                semantic=alert.semantic,
                peak=alert.peak_score,
                queries={alert.query_id: alert.peak_score},
                query_texts={alert.query_id: alert.query_text},
                thumbnail=path,
                clip=alert.clip_path,
                clip_info=alert.clip_info,
            )
            self.memory.add(moment, [Keyframe(alert.peak_wall, alert.peak_pts, path, alert.peak_embedding)])
            self.moments += 1
        return alert

    def context_keyframe(self, event: ContextKeyframe) -> None:
        """Store a context keyframe as a one-frame moment of kind ``context``."""
        frame = event.frame
        moment_id = f"ctx-{frame.camera}-{int(frame.wall * 1000)}"
        path = self.memory.save_snapshot(moment_id, frame.snapshot) if frame.snapshot is not None else None
        moment = Moment(
            id=moment_id,
            camera=frame.camera,
            start_wall=frame.wall,
            end_wall=frame.wall,
            start_pts=frame.pts,
            end_pts=frame.pts,
            backend=event.backend,
            semantic=event.embedding is not None,
            peak=0.0,
            thumbnail=path,
            kind="context",
        )
        self.memory.add(moment, [Keyframe(frame.wall, frame.pts, path, event.embedding)])
        self.context += 1
