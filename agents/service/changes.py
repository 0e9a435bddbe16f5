"""Changes to a running service's cameras and queries: a reload of its config file, and a camera's new privacy
masks or zones. One at a time (a lock); each restarts only the cameras it touches (see :mod:`.reload` for what
a reload applies and what waits for a restart)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from streamer.errors import ConfigError

from ..config import CameraConfig, FeedwatchConfig, format_validation_error
from ..scoring import Query
from .lineup import CameraLineup
from .queries import check_zones
from .regions import RegionStore
from .reload import ReloadPlan, plan_reload
from .running import Running

__all__ = ["LiveChanges"]

log = logging.getLogger(__name__)


class LiveChanges:
    """``read`` reads the config file again (None: the service was not started from one); ``get`` and ``put`` are
    the service's current config; ``running`` its running pipeline, None while it starts; ``changed`` tells the
    APIs that what depends on the camera list changed."""

    def __init__(
        self,
        read: Callable[[], FeedwatchConfig] | None,
        regions: RegionStore,
        lineup: CameraLineup,
        get: Callable[[], FeedwatchConfig],
        put: Callable[[FeedwatchConfig], None],
        running: Callable[[], Running | None],
        changed: Callable[[], None],
    ) -> None:
        self.read = read
        self.regions = regions
        self.lineup = lineup
        self._get, self._put, self._running, self._changed = get, put, running, changed
        self.lock = asyncio.Lock()

    async def reload(self) -> ReloadPlan:
        """Read the config file again and apply the difference; :class:`ConfigError`, with nothing changed, when the
        file is invalid or cannot be read."""
        if self.read is None:
            raise ConfigError("this service was not started from a config file: there is nothing to reload")
        async with self.lock:
            try:
                new = await asyncio.to_thread(self.read)
                new = await asyncio.to_thread(self.regions.overlay, new)
                if not new.cameras and not new.fleet.url:  # a fleet's node may hold none for a while
                    raise ConfigError("the config configures no cameras; a running service keeps at least one")
            except ConfigError as exc:
                log.error("reload refused, nothing changed: %s", exc)
                raise
            plan = plan_reload(self._get(), new)
            run = self._running()
            if run is None or run.tasks is None:
                raise ConfigError("the service is still starting; reload again in a moment")
            self._put(self._get().model_copy(update={"cameras": new.cameras, "queries": new.queries}))
            for query_id in plan.queries_removed:
                await run.queries.delete(query_id)
            for cam_id in [*plan.cameras_removed, *(c.id for c in plan.cameras_changed)]:
                await self.lineup.stop(cam_id, run)
            for cam in [*plan.cameras_changed, *plan.cameras_added]:
                await self.lineup.start(cam, run)
            run.queries.cameras = [c.id for c in self._get().cameras]
            run.queries.zones = {cam.id: list(cam.zones) for cam in new.cameras}
            for query in plan.queries_set:
                try:
                    await run.queries.set(Query.from_config(query))
                except ConfigError as exc:  # validated with its cameras: only a run-time change can clash
                    log.error("reload: query %s not applied: %s", query.id, exc)
            if plan.cameras_added or plan.cameras_removed or plan.cameras_changed:
                self._changed()  # the APIs republish what depends on the camera list
            log.info("reloaded: %s", plan.to_dict())
            if plan.restart_needed:
                log.warning("reload: %s changed and apply only after a restart", ", ".join(plan.restart_needed))
            return plan

    async def set_regions(
        self, camera: str, masks: list[Any] | None = None, zones: dict[str, Any] | None = None
    ) -> CameraConfig:
        """Replace a camera's privacy masks and/or zones; its reader restarts with them (the others are not
        touched), and they persist (``regions.json``). :class:`ConfigError` (nothing changed) when they are invalid
        or a query still looks at a zone they drop; :class:`KeyError` for an unknown camera."""
        async with self.lock:
            run = self._running()
            if run is None:
                raise RuntimeError("the service is not running")
            config = self._get()
            current = next((c for c in config.cameras if c.id == camera), None)
            if current is None:
                raise KeyError(camera)
            changes: dict[str, Any] = {}
            if masks is not None:
                changes["masks"] = masks
            if zones is not None:
                changes["zones"] = zones
            if not changes:
                return current
            try:
                updated = CameraConfig.model_validate({**current.model_dump(mode="json"), **changes})
            except ValidationError as exc:
                raise ConfigError("; ".join(format_validation_error(exc))) from None
            names = {**{c.id: list(c.zones) for c in config.cameras}, camera: list(updated.zones)}
            for query in run.queries.all():
                problem = check_zones(query, names)
                if problem:
                    raise ConfigError(problem)
            await asyncio.to_thread(
                self.regions.remember, camera, updated.model_dump(mode="json", include=set(changes))
            )
            cameras = [updated if c.id == camera else c for c in config.cameras]
            self._put(config.model_copy(update={"cameras": cameras}))
            run.queries.zones = names
            await self.lineup.stop(camera, run)
            await self.lineup.start(updated, run)
            log.info("camera %s: regions changed (%d mask(s), zones %s); its reader restarted",
                     camera, len(updated.masks), sorted(updated.zones))  # fmt: skip
            return updated
