"""Context keyframes: sparse frames kept when the scene changes markedly, whatever the standing queries.

They let people ask about things nobody set a query for ("what was on the table at 10:05?"). The test
is model-free (a tiny normalised grayscale thumbnail against the last one kept), so it works with every
scorer; the keyframe carries the scorer's embedding when there is one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from streamer.frames import Frame

__all__ = ["ContextKeyframe", "ContextSampler"]

_SIDE = 32


@dataclass(frozen=True, slots=True)
class ContextKeyframe:
    """A frame worth remembering on its own, with its embedding when the scorer gave one."""

    frame: Frame
    embedding: NDArray[np.float32] | None
    backend: str


def _thumb(image: NDArray[np.uint8]) -> NDArray[np.float32]:
    h, w = image.shape[:2]
    ys = np.linspace(0, h - 1, _SIDE).astype(int)
    xs = np.linspace(0, w - 1, _SIDE).astype(int)
    gray = image[np.ix_(ys, xs)].astype(np.float32).mean(axis=2)
    gray -= gray.mean()
    norm = float(np.linalg.norm(gray)) or 1.0
    out: NDArray[np.float32] = gray / norm
    return out


class ContextSampler:
    """Decide, per camera, which frames are context keyframes.

    A frame is kept when its thumbnail's correlation with the last kept one falls below
    ``1 - change`` and at least ``min_interval_s`` have passed, or when ``max_interval_s`` have passed
    regardless (so a static scene is still sampled now and then).
    """

    def __init__(self, change: float = 0.25, min_interval_s: float = 30.0, max_interval_s: float = 900.0) -> None:
        self.change = change
        self.min_interval_s = min_interval_s
        self.max_interval_s = max_interval_s
        self._last: dict[str, tuple[float, NDArray[np.float32]]] = {}

    def observe(self, frame: Frame) -> bool:
        """Whether ``frame`` should be kept as a context keyframe (and remember it if so)."""
        thumb = _thumb(frame.image)
        last = self._last.get(frame.camera)
        if last is not None:
            elapsed = frame.wall - last[0]
            if elapsed < self.min_interval_s:
                return False
            similar = float(np.dot(thumb.ravel(), last[1].ravel())) > 1.0 - self.change
            if similar and elapsed < self.max_interval_s:
                return False
        self._last[frame.camera] = (frame.wall, thumb)
        return True
