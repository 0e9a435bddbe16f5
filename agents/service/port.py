"""The port: what the APIs (HTTP, MQTT, the page) may see and do in a running service, as a typed Protocol.

The APIs depend on this, never on the concrete :class:`~agents.service.service.Service`; the service
implements it. Events leave the service through listeners registered here; extensions (the APIs) are
started by the service after its memory and models are ready and stopped after its cameras.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from streamer.clips import ClipInfo
from streamer.frames import Frame
from streamer.reader import CameraStatus, Outage

from ..alerting import Alert
from ..config import CameraConfig, FeedwatchConfig
from ..memory.backend import Memory
from ..memory.records import Feedback
from ..qa.answer import Answer
from ..qa.retrieval import FrameSource
from ..scoring import Query
from .health import Health
from .reload import ReloadPlan
from .report import CameraReport

__all__ = [
    "AlertEvent",
    "AlertListener",
    "Extension",
    "FleetPort",
    "OutageListener",
    "QueriesListener",
    "ServicePort",
    "StatusListener",
]


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """An alert as it leaves the pipeline, with its published JSON payload computed once for every listener."""

    alert: Alert
    payload: dict[str, object]
    text: str

    @classmethod
    def of(cls, alert: Alert) -> AlertEvent:
        payload = alert.to_payload()
        return cls(alert, payload, json.dumps(payload))


AlertListener = Callable[[AlertEvent], Awaitable[None]]
StatusListener = Callable[[str, CameraStatus], None]
OutageListener = Callable[[Outage], None]  # a camera went away (end None) or came back (end set)
QueriesListener = Callable[[], None]


class FleetPort(FrameSource, Protocol):
    """What a fleet's node knows of the others, for its APIs and questions (see :mod:`agents.service.fleet`)."""

    node: str

    async def nodes(self) -> list[dict[str, Any]]:
        """The fleet's nodes: id, API address, alive, seconds since seen, scoring lag, cameras held."""
        ...

    async def snapshot(self, camera: str) -> bytes | None:
        """The newest frame (JPEG) of a camera another node holds, from that node; None when it cannot be had."""
        ...


class ServicePort(Protocol):
    """A running service, as its APIs use it. Call on the service's event loop."""

    @property
    def config(self) -> FeedwatchConfig: ...

    @property
    def memory(self) -> Memory: ...

    @property
    def asks(self) -> int:
        """Questions answered so far."""
        ...

    @property
    def health(self) -> Health:
        """Problems and stage restarts; the APIs report it and add their own problems and counters."""
        ...

    def camera_ids(self) -> list[str]: ...

    def camera_reports(self) -> list[CameraReport]: ...

    def latest_frame(self, camera: str) -> Frame | None: ...

    @property
    def fleet(self) -> FleetPort | None:
        """The fleet this node is part of; None when it runs alone."""
        ...

    def buffered_frames(self, camera: str, since: float | None, until: float | None, limit: int) -> list[Frame]:
        """Up to ``limit`` frames of the camera's buffer in the range, spread evenly, oldest first (on the loop)."""
        ...

    def queries(self) -> list[Query]: ...

    async def set_query(self, query: Query) -> None: ...

    async def delete_query(self, query_id: str) -> bool: ...

    async def arm_query(self, query_id: str, armed: bool, camera: str | None = None) -> Query | None:
        """Arm or disarm a standing query, everywhere or on one camera; None when there is none by that id."""
        ...

    async def feedback(self, alert_id: str, match: bool) -> Feedback | None:
        """Mark an ended alert right or wrong (stored with its moment); None when no such alert is remembered."""
        ...

    async def set_regions(
        self, camera: str, masks: list[Any] | None = None, zones: dict[str, Any] | None = None
    ) -> CameraConfig:
        """Replace a camera's masks and/or zones (its reader restarts); ConfigError if invalid, KeyError if unknown."""
        ...

    @property
    def reloadable(self) -> bool:
        """Whether the service runs from a config file it can re-read."""
        ...

    async def reload(self) -> ReloadPlan:
        """Re-read the config file and apply the difference; :class:`ConfigError` (nothing changed) if invalid."""
        ...

    @property
    def reloading(self) -> bool:
        """Whether a reload (or a region change) is being applied right now."""
        ...

    def query_frames(self) -> dict[str, int]:
        """Frames scored for each standing query since the start."""
        ...

    def open_alerts(self) -> list[Alert]: ...

    async def ask(self, question: str, *, limit: int = 5, alert: str | None = None) -> Answer:
        """An answer over the memory and buffers; with ``alert``, over that alert's clip alone."""
        ...

    async def camera_clip(self, camera: str, since: float, until: float, path: Path) -> ClipInfo:
        """Write ``[since, until]`` of ``camera``'s kept packets to ``path`` (raises ClipError when none are kept)."""
        ...

    async def embed_text(self, text: str) -> NDArray[np.float32] | None:
        """The text's embedding by the service's embedding model (behind the inference limiter), if it has one."""
        ...

    def on_alert(self, listener: AlertListener) -> None: ...

    def on_status(self, listener: StatusListener) -> None: ...

    def on_queries(self, listener: QueriesListener) -> None: ...

    def on_outage(self, listener: OutageListener) -> None: ...


class Extension(Protocol):
    """Something that runs beside the pipeline for the service's lifetime (an API): started once the memory and
    models are ready and before the cameras open, stopped after the cameras closed."""

    async def start(self, port: ServicePort, stack: contextlib.AsyncExitStack) -> None: ...
