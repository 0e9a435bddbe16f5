"""From scores to alerts: the scheduler that cuts and scores windows, the alert policy, and context keyframes."""

from __future__ import annotations

from .alert import Alert, AlertKind, with_snapshot_path
from .context import ContextKeyframe, ContextSampler
from .policy import AlertPolicy
from .scheduler import CameraCounters, Scheduler

__all__ = [
    "Alert",
    "AlertKind",
    "AlertPolicy",
    "CameraCounters",
    "ContextKeyframe",
    "ContextSampler",
    "Scheduler",
    "with_snapshot_path",
]
