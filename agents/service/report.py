"""What a camera and a run did: the figures the CLI prints, the APIs serve and ``--report`` writes."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["CameraReport", "ServiceReport"]


@dataclass(slots=True)
class CameraReport:
    """One camera's status and counters now."""

    camera: str
    status: str
    decoded: int
    sampled: int
    dropped: int
    reconnects: int
    scored: int
    skipped: int
    alerts: int
    unscored: int = 0  # new frames no scorer could score: the model was away (and no fallback)
    max_lag_s: float = 0.0
    lag_s: float = 0.0
    lag_p95_s: float = 0.0  # of the recent decisions: a frame's arrival to its scores
    error: str | None = None  # the last error, credentials masked
    open_alerts: int = 0
    buffer_frames: int = 0
    buffer_bytes: int = 0
    buffer_seconds: float = 0.0
    latest: float | None = None  # wall-clock time of the newest buffered frame
    transport: str | None = None  # RTSP transport of the current session: "udp", "tcp", "auto", "tcp (fallback)"
    offline_s: float = 0.0  # seconds spent neither live nor ended since the start
    outages: int = 0
    last_outage: dict[str, object] | None = None  # the open or last outage: start, end, duration_s, cause
    hook_runs: int = 0  # times the camera's on_offline command ran
    model_frames: int = 0  # new frames (whole or a zone's crop) the model scored
    held_frames: int = 0  # new frames the change gate held back from the model (scores carried forward)


@dataclass(slots=True)
class ServiceReport:
    """What a run did."""

    backend: str
    backend_reason: str
    wall_s: float
    cameras: list[CameraReport] = field(default_factory=list)
    alerts: int = 0
    moments: int = 0
