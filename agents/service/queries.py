"""The standing queries in force: the configured ones, changed at run time (MQTT, HTTP), persisted, announced.

Changes made at run time are kept in ``queries.json`` in the memory folder (the queries added or replaced,
and the ids deleted) and laid over the configured queries at the next start, so they survive a restart.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from streamer.errors import ConfigError

from ..alerting import Scheduler
from ..config import QueryConfig
from ..config.models import zone_problem
from ..memory.files import atomic_write
from ..scoring import Query

__all__ = ["QueryStore", "StandingQueries"]

log = logging.getLogger(__name__)


class QueryStore:
    """Standing queries changed at run time, on disk: added or replaced ones, and deleted ids. Blocking (disk)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> tuple[list[Query], set[str]]:
        if not self.path.is_file():
            return [], set()
        try:
            data = json.loads(self.path.read_text())
            added = [Query.from_config(QueryConfig.model_validate(q)) for q in data["added"]]
            return added, {str(d) for d in data["deleted"]}
        except (OSError, ValueError, KeyError, TypeError, ValidationError) as exc:
            log.error("standing queries in %s are unreadable (%s); using the configured ones", self.path, exc)
            return [], set()

    def remember(self, query: Query) -> None:
        """Record that ``query`` was added or replaced (and is no longer deleted)."""
        added, deleted = self.load()
        deleted.discard(query.id)
        self._save([q for q in added if q.id != query.id] + [query], deleted)

    def forget(self, query_id: str) -> None:
        """Record that the query ``query_id`` was deleted."""
        added, deleted = self.load()
        deleted.add(query_id)
        self._save([q for q in added if q.id != query_id], deleted)

    def overlay(self, configured: list[Query]) -> list[Query]:
        """The configured queries with the persisted run-time changes applied."""
        added, deleted = self.load()
        by_id = {q.id: q for q in configured if q.id not in deleted}
        for q in added:
            by_id[q.id] = q
        return list(by_id.values())

    def _save(self, added: list[Query], deleted: set[str]) -> None:
        data: dict[str, Any] = {"added": [q.to_dict() for q in added], "deleted": sorted(deleted)}
        atomic_write(self.path, json.dumps(data, indent=2).encode())


def check_zones(query: Query, zones: Mapping[str, Collection[str]]) -> str | None:
    """Why ``query`` cannot run on these cameras' zones (a zone a camera it applies to lacks); None if it can."""
    return zone_problem(query.id, query.zones, query.applies_to, zones)


class StandingQueries:
    """Run-time changes to the scheduler's queries: checked against the cameras, persisted, then announced."""

    def __init__(
        self, scheduler: Scheduler, store: QueryStore, cameras: Collection[str], zones: Mapping[str, Collection[str]]
    ) -> None:
        self.scheduler = scheduler
        self.store = store
        self.cameras = cameras
        self.zones = zones  # camera -> its zone names
        self._listeners: list[Callable[[], None]] = []
        self._saving = asyncio.Lock()  # one read-modify-write of the store at a time (HTTP and MQTT race)

    def listen(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on the loop) whenever the standing queries change."""
        self._listeners.append(callback)

    def all(self) -> list[Query]:
        return self.scheduler.queries

    async def set(self, query: Query) -> None:
        """Add or replace a standing query; it applies from the next scored window."""
        unknown = [c for c in (*query.cameras, *query.disarmed) if c not in self.cameras]
        if unknown:
            raise ConfigError(f"query {query.id!r} names unknown camera(s) {unknown}; known: {sorted(self.cameras)}")
        missing = check_zones(query, self.zones)
        if missing:
            raise ConfigError(missing)
        self.scheduler.add_query(query)
        for camera in self.cameras:
            if query.applies_to(camera) and not query.armed_on(camera):
                await self.scheduler.end_alerts(query.id, camera)
        log.info("standing query %s set: %r%s", query.id, query.text, "" if query.armed else " (disarmed)")
        async with self._saving:
            await asyncio.to_thread(self.store.remember, query)
        self._changed()

    async def arm(self, query_id: str, armed: bool, camera: str | None = None) -> Query | None:
        """Arm or disarm a standing query, everywhere or on one ``camera`` (disarmed: its open alerts end, nothing
        is scored for it); None when there is no such query."""
        query = next((q for q in self.all() if q.id == query_id), None)
        if query is None:
            return None
        if camera is None:
            changed = dataclasses.replace(query, armed=armed, disarmed=())
        else:
            if camera not in self.cameras:
                raise ConfigError(f"no camera {camera!r}; known: {sorted(self.cameras)}")
            others = tuple(c for c in query.disarmed if c != camera)
            changed = dataclasses.replace(query, disarmed=others if armed else (*others, camera))
            if armed and not query.armed:  # arming on one camera of a query disarmed everywhere: only there
                rest = tuple(c for c in self.cameras if c != camera and query.applies_to(c))
                changed = dataclasses.replace(changed, armed=True, disarmed=rest)
        if changed != query:
            await self.set(changed)
        return changed

    async def delete(self, query_id: str) -> bool:
        """Remove a standing query (its open alerts end); False when there was none."""
        if not await self.scheduler.remove_query(query_id):
            return False
        log.info("standing query %s removed", query_id)
        async with self._saving:
            await asyncio.to_thread(self.store.forget, query_id)
        self._changed()
        return True

    def _changed(self) -> None:
        for callback in self._listeners:
            callback()
