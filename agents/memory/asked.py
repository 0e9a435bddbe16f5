"""Frames cited by answers that nothing remembered: recent frames from the rolling buffer, kept on disk beside
the memory so whoever reads the answer can open them. Only the newest few are kept."""

from __future__ import annotations

import logging
from pathlib import Path

from streamer.redact import redact_text

from .files import atomic_write

__all__ = ["AskedFrames"]

log = logging.getLogger(__name__)


class AskedFrames:
    """The ``asked/`` folder of a memory: the newest ``keep`` cited frames. Blocking (disk)."""

    def __init__(self, folder: Path, keep: int = 256) -> None:
        self.folder = folder
        self.keep_newest = keep

    def keep(self, camera: str, wall: float, jpeg: bytes) -> str | None:
        """Write one cited frame (once) and return its path; None when the disk refuses (logged)."""
        path = self.folder / f"{camera}-{int(wall * 1000)}.jpg"
        try:
            if not path.exists():
                self.folder.mkdir(parents=True, exist_ok=True)
                atomic_write(path, jpeg)
        except OSError as exc:
            log.warning("ask: cannot keep the cited frame %s: %s", path.name, redact_text(str(exc)))
            return None
        return str(path)

    def prune(self) -> None:
        """Keep only the newest cited frames (call once per answer, not per frame)."""
        try:
            kept = sorted(self.folder.glob("*.jpg"), key=lambda p: p.stat().st_mtime)
            for old in kept[: -self.keep_newest]:
                old.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("ask: cannot prune the cited frames in %s: %s", self.folder, redact_text(str(exc)))
