"""Regions of a frame in normalised coordinates: privacy masks blacked out, and zones cropped for scoring.

A polygon is a tuple of ``(x, y)`` points, each a fraction (0-1) of the frame's width and height, so one
polygon fits every resolution the camera sends. Rasterised polygons are cached per (polygons, size): a camera
draws its masks once per resolution, not once per frame.
"""

from __future__ import annotations

import functools

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

__all__ = ["Polygon", "apply_masks", "bounding_box", "polygon_mask", "zone_crop"]

Polygon = tuple[tuple[float, float], ...]


@functools.lru_cache(maxsize=64)
def polygon_mask(polygons: tuple[Polygon, ...], width: int, height: int) -> NDArray[np.bool_]:
    """True where any of ``polygons`` covers a pixel of a ``width`` x ``height`` frame (read-only)."""
    canvas = Image.new("1", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    for polygon in polygons:
        draw.polygon([(x * width, y * height) for x, y in polygon], fill=1, outline=1)
    mask = np.asarray(canvas, dtype=bool).copy()
    mask.flags.writeable = False
    return mask


def apply_masks(image: NDArray[np.uint8], polygons: tuple[Polygon, ...]) -> NDArray[np.uint8]:
    """``image`` (H x W x C) with the pixels under ``polygons`` set to black, in place; returned for chaining."""
    if polygons:
        image[polygon_mask(polygons, image.shape[1], image.shape[0])] = 0
    return image


def bounding_box(polygon: Polygon, width: int, height: int) -> tuple[int, int, int, int]:
    """The pixel box ``(left, top, right, bottom)`` around ``polygon`` on a ``width`` x ``height`` frame (>= 1 px)."""
    xs = [x * width for x, _ in polygon]
    ys = [y * height for _, y in polygon]
    left, top = max(0, int(min(xs))), max(0, int(min(ys)))
    right, bottom = min(width, int(np.ceil(max(xs)))), min(height, int(np.ceil(max(ys))))
    return left, top, max(right, left + 1), max(bottom, top + 1)


def zone_crop(image: NDArray[np.uint8], polygon: Polygon, max_side: int) -> NDArray[np.uint8]:
    """What a zone-limited query sees: the zone's bounding box of ``image``, black outside the zone, scaled to
    ``max_side`` on its longer side (area filter down, bicubic up)."""
    h, w = image.shape[:2]
    left, top, right, bottom = bounding_box(polygon, w, h)
    crop = image[top:bottom, left:right].copy()
    # The polygon in the crop's own fractions, then everything outside it blacked out.
    inside = tuple(((x * w - left) / (right - left), (y * h - top) / (bottom - top)) for x, y in polygon)
    crop[~polygon_mask((inside,), right - left, bottom - top)] = 0
    cw, ch = crop.shape[1], crop.shape[0]
    scale = max_side / max(cw, ch)
    size = (max(1, round(cw * scale)), max(1, round(ch * scale)))
    if size == (cw, ch):
        return crop
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BICUBIC
    return np.asarray(Image.fromarray(crop).resize(size, resample))
