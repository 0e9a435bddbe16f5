"""Zone crops for zone-limited queries: each sampled frame cut to a zone's box, black outside the zone.

A crop is made from the frame's snapshot (640 px) when it has one, since the analysis image (a few hundred
pixels across) leaves too little of a small zone, then scaled to the scorer's input size. Windows overlap, so
crops are cached per (camera, frame, zone) for the frames still in recent windows.
"""

from __future__ import annotations

import dataclasses
import io
from collections import OrderedDict

import numpy as np
from PIL import Image

from streamer.frames import Frame, Window
from streamer.regions import Polygon, zone_crop

__all__ = ["ZoneCrops"]

_KEEP = 512  # cached crops: a few windows of every camera's zones


class ZoneCrops:
    """Cropped copies of frames for one zone at a time, cached."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._cache: OrderedDict[tuple[str, int, str, Polygon], Frame] = OrderedDict()

    def window(self, window: Window, zone: str, polygon: Polygon) -> Window:
        """``window`` with each frame replaced by its crop of ``zone``; scorers keep per-zone state apart."""
        frames = tuple(self.frame(f, zone, polygon) for f in window.frames)
        return dataclasses.replace(window, camera=f"{window.camera}#{zone}", frames=frames)

    def frame(self, frame: Frame, zone: str, polygon: Polygon) -> Frame:
        key = (frame.camera, frame.seq, zone, polygon)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        source = frame.image
        if frame.snapshot is not None:
            with Image.open(io.BytesIO(frame.snapshot)) as pil:
                source = np.asarray(pil.convert("RGB"))
        crop = zone_crop(source, polygon, self.size)
        cropped = dataclasses.replace(frame, camera=f"{frame.camera}#{zone}", image=crop, snapshot=None)
        self._cache[key] = cropped
        while len(self._cache) > _KEEP:
            self._cache.popitem(last=False)
        return cropped

    def forget(self, camera: str) -> None:
        """Drop the crops of ``camera`` (its zones or its stream changed)."""
        for key in [k for k in self._cache if k[0] == camera]:
            del self._cache[key]
