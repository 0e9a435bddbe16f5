"""Cameras' masks and zones set over the API, kept in ``regions.json`` in the memory folder and laid over the
config at every start and reload (as run-time query changes are), so they survive both."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..config import FeedwatchConfig
from ..memory.files import atomic_write

__all__ = ["RegionStore"]

log = logging.getLogger(__name__)


class RegionStore:
    """``{camera: {"masks": [...], "zones": {...}}}`` set at run time. Blocking (disk)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, dict[str, Any]]:
        if not self.path.is_file():
            return {}
        try:
            data = json.loads(self.path.read_text())
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            return data
        except (OSError, ValueError) as exc:
            log.error("camera regions in %s are unreadable (%s); using the configured ones", self.path, exc)
            return {}

    def remember(self, camera: str, regions: dict[str, Any]) -> None:
        data = self.load()
        data[camera] = {**data.get(camera, {}), **regions}
        atomic_write(self.path, json.dumps(data, indent=2).encode())

    def overlay(self, config: FeedwatchConfig) -> FeedwatchConfig:
        """``config`` with the regions set at run time in place of the file's (a set that no longer validates
        against the file, a zone its queries no longer name, say, is logged and left out)."""
        data = self.load()
        if not data:
            return config
        merged = config.model_dump(mode="json")
        for cam in merged["cameras"]:
            cam.update(data.get(cam["id"], {}))
        try:
            return FeedwatchConfig.model_validate(merged)
        except ValidationError as exc:
            log.error("camera regions set at run time no longer fit the config (%s); using the configured ones", exc)
            return config
