"""How much a frame differs from another: the pixel measure of the activity scorer and the change gate.

Frames are compared in log brightness, block-averaged to about 112 pixels on the long side: a global
brightness change (camera gain, a cloud) is removed by subtracting the median difference, and a pixel
counts as changed when its log brightness moved more than a threshold (0.2 is about 22%).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["WORK_SIDE", "changed", "log_luma"]

WORK_SIDE = 112  # the measure works at about this long side
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def log_luma(image: NDArray[np.uint8]) -> NDArray[np.float32]:
    """Log brightness, block-averaged down to about ``WORK_SIDE`` on the long side."""
    h, w = image.shape[:2]
    k = max(1, max(h, w) // WORK_SIDE)
    h2, w2 = h // k * k, w // k * k
    gray = image[:h2, :w2].astype(np.float32) @ _LUMA
    if k > 1:
        gray = gray.reshape(h2 // k, k, w2 // k, k).mean(axis=(1, 3))
    out: NDArray[np.float32] = np.log(gray + 16.0).astype(np.float32)
    return out


def changed(x: NDArray[np.float32], reference: NDArray[np.float32], pixel_threshold: float) -> NDArray[np.bool_]:
    """Pixels of ``x`` (a :func:`log_luma`) that changed against ``reference``, a global brightness change removed."""
    diff = x - reference
    diff -= np.median(diff)
    out: NDArray[np.bool_] = np.abs(diff) > pixel_threshold
    return out
