"""Live reload: what differs between the running config and the file, and what applying it means.

Cameras added, removed or changed (any field: URL, fps, masks, zones) restart only their own reader; queries
added, changed or removed are applied as the MQTT and HTTP commands apply them. Every other section needs a
restart to change: it is named in the answer, and the running values stay until then.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config import CameraConfig, FeedwatchConfig, QueryConfig

__all__ = ["ReloadPlan", "plan_reload"]

_LIVE = {"cameras", "queries"}


@dataclass(frozen=True, slots=True)
class ReloadPlan:
    """The difference between two configs, as a reload applies it."""

    cameras_added: list[CameraConfig] = field(default_factory=list)
    cameras_removed: list[str] = field(default_factory=list)
    cameras_changed: list[CameraConfig] = field(default_factory=list)
    queries_set: list[QueryConfig] = field(default_factory=list)
    queries_removed: list[str] = field(default_factory=list)
    restart_needed: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (
            self.cameras_added or self.cameras_removed or self.cameras_changed or self.queries_set
            or self.queries_removed
        )  # fmt: skip

    def to_dict(self) -> dict[str, object]:
        return {
            "cameras": {
                "added": [c.id for c in self.cameras_added],
                "removed": list(self.cameras_removed),
                "changed": [c.id for c in self.cameras_changed],
            },
            "queries": {"set": [q.id for q in self.queries_set], "removed": list(self.queries_removed)},
            "restart_needed": list(self.restart_needed),
        }


def plan_reload(old: FeedwatchConfig, new: FeedwatchConfig) -> ReloadPlan:
    """What changes from ``old`` (running) to ``new`` (the file now)."""
    before = {c.id: c for c in old.cameras}
    after = {c.id: c for c in new.cameras}
    queries_before = {q.id: q for q in old.queries}
    queries_after = {q.id: q for q in new.queries}
    restart = [
        name for name in type(new).model_fields if name not in _LIVE and getattr(old, name) != getattr(new, name)
    ]
    return ReloadPlan(
        cameras_added=[c for cam_id, c in after.items() if cam_id not in before],
        cameras_removed=[cam_id for cam_id in before if cam_id not in after],
        cameras_changed=[c for cam_id, c in after.items() if cam_id in before and before[cam_id] != c],
        queries_set=[q for q_id, q in queries_after.items() if queries_before.get(q_id) != q],
        queries_removed=[q_id for q_id in queries_before if q_id not in queries_after],
        restart_needed=restart,
    )
