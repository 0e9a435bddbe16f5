"""Clips of alerts: wait for the seconds after an alert's end, then remux them off the event loop.

A live camera's clip comes from its :class:`~streamer.packets.PacketRing`; a file replayed faster than real time is
cut from the file itself (its ring would only hold the last seconds read). A clip that cannot be written costs the
clip, never the alert or its moment: the log says which camera and alert, and why.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from streamer.clips import ClipError, ClipInfo, cut_file, write_clip
from streamer.packets import PacketRing
from streamer.urls import is_file_source

from ..alerting import Alert
from ..config import CameraConfig, ClipSettings

__all__ = ["Clipper", "keeps_packets"]

log = logging.getLogger(__name__)

_POLL_S = 0.1
_SLACK_S = 3.0  # how much longer than post_s an end waits for packets that do not come


def keeps_packets(camera: CameraConfig, settings: ClipSettings) -> bool:
    """Whether this camera keeps its packets for clips (it does unless clips are off or come from its file)."""
    return settings.enabled and not _from_file(camera)


class Clipper:
    """Writes each ended alert's clip under ``folder``, named by the alert id."""

    def __init__(
        self, settings: ClipSettings, cameras: dict[str, CameraConfig], rings: dict[str, PacketRing], folder: Path
    ) -> None:
        self.settings = settings
        self.cameras = cameras
        self.rings = rings
        self.folder = folder

    def path(self, alert_id: str) -> Path:
        return self.folder / f"{alert_id}.mp4"

    def wants(self, alert: Alert) -> bool:
        camera = self.cameras.get(alert.camera)
        if not self.settings.enabled or camera is None:
            return False
        return alert.camera in self.rings or _from_file(camera)

    async def clip(self, alert: Alert) -> ClipInfo | None:
        """The ended ``alert``'s clip, written; None (and an ERROR line) when it could not be."""
        camera = self.cameras.get(alert.camera)
        if camera is None:
            return None
        s = self.settings
        try:
            if _from_file(camera):
                offset = alert.start_wall - alert.start_pts
                info = await asyncio.to_thread(
                    cut_file, camera.url, max(0.0, alert.start_pts - s.pre_s),
                    min(alert.end_pts + s.post_s, alert.start_pts - s.pre_s + s.max_s), self.path(alert.id),
                    wall_origin=offset, masks=camera.mask_polygons(),
                )  # fmt: skip
            else:
                ring = self.rings[alert.camera]
                until = alert.end_wall + s.post_s
                await _wait_for(ring, until, s.post_s + _SLACK_S)
                gops = ring.cut(alert.start_wall - s.pre_s, until)
                info = await asyncio.to_thread(
                    write_clip, gops, self.path(alert.id), max_s=s.max_s, masks=camera.mask_polygons()
                )
        except (ClipError, OSError) as exc:
            log.error("camera %s: clip of alert %s not written: %s", alert.camera, alert.id, exc)
            return None
        if info.gaps:
            away = sum(b - a for a, b in info.gaps)
            log.warning(
                "camera %s: clip of alert %s has %d gap(s), %.1f s in all (the camera reconnected)",
                alert.camera, alert.id, len(info.gaps), away,
            )  # fmt: skip
        return info


def _from_file(camera: CameraConfig) -> bool:
    """A file replayed as fast as it decodes: cut its clips from the file (paced or looping files keep packets)."""
    return is_file_source(camera.url) and not camera.realtime and not camera.loop


async def _wait_for(ring: PacketRing, until: float, limit_s: float) -> None:
    """Until the ring holds packets up to ``until``, the camera stops, or ``limit_s`` passes (it may be away)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and not ring.closed:
        newest = ring.newest
        if newest is not None and newest >= until:
            return
        await asyncio.sleep(_POLL_S)
