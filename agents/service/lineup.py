"""The cameras of a running service: one started into the running pipeline, one stopped, each on its own (a
reload or a change of regions restarts only the cameras it touches)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

from streamer.reader import CameraStatus

from ..config import CameraConfig
from ..scoring import GatedScorer
from .cameras import Camera
from .hooks import OfflineHooks
from .running import Running

__all__ = ["CameraLineup"]

_STOP_S = 8.0  # how long a stopped camera's ingest may take to finish


class CameraLineup:
    """``cameras`` by id. ``make`` builds a camera from its config; ``ingest`` is its ingest stage; ``on_status``
    hears that a stopped camera is offline. ``hooks`` (recovery commands) and ``gate`` (the change gate) are set once
    the service has them."""

    def __init__(
        self,
        make: Callable[[CameraConfig], Camera],
        ingest: Callable[[Camera, Running], Coroutine[Any, Any, None]],
        on_status: Callable[[str, CameraStatus], None],
    ) -> None:
        self.cameras: dict[str, Camera] = {}
        self._make = make
        self._ingest = ingest
        self._on_status = on_status
        self.hooks: OfflineHooks | None = None
        self.gate: GatedScorer | None = None

    def ids(self) -> list[str]:
        return list(self.cameras)

    def add(self, config: CameraConfig) -> Camera:
        """A camera made from ``config`` and counted in, not yet started (the service's first cameras)."""
        camera = self.cameras[config.id] = self._make(config)
        return camera

    async def start(self, config: CameraConfig, run: Running) -> None:
        """Make the camera, hand it to the clipper and the scheduler, open its reader and start its ingest."""
        camera = self.add(config)
        if self.hooks is not None:
            self.hooks.configure(config)
        run.clipper.cameras[config.id] = config
        if camera.ring is not None:
            run.clipper.rings[config.id] = camera.ring
        run.scheduler.add_camera(config.id, camera.buffer, {z: config.zone_polygon(z) for z in config.zones})
        stack = run.readers[config.id] = contextlib.AsyncExitStack()
        await stack.enter_async_context(camera.reader)
        if run.tasks is not None:
            run.ingest[config.id] = run.tasks.create_task(self._ingest(camera, run), name=f"ingest-{config.id}")

    async def stop(self, cam_id: str, run: Running) -> None:
        """End the camera's alerts, close its reader, wait for its ingest and say it is offline."""
        camera = self.cameras.pop(cam_id, None)
        if camera is None:
            return
        await run.scheduler.remove_camera(cam_id)  # first: its buffer closing must not look like the end of all
        if self.gate is not None:
            self.gate.forget(cam_id)
        stack = run.readers.pop(cam_id, None)
        if stack is not None:
            await stack.aclose()
        task = run.ingest.pop(cam_id, None)
        if task is not None:
            await asyncio.wait([task], timeout=_STOP_S)
        await camera.buffer.close()
        run.clipper.rings.pop(cam_id, None)
        self._on_status(cam_id, CameraStatus.OFFLINE)
