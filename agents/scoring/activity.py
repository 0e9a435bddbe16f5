"""The model-free activity scorer: how far each frame departs from the camera's learned background.

It ignores the query text. It is what ``auto`` falls back to when no model weights are present,
and every alert it produces says so (``backend: "activity"``, ``semantic: false``).
"""

from __future__ import annotations

import time
from collections import OrderedDict

import numpy as np
from numpy.typing import NDArray

from streamer.frames import Frame, Window

from ..config import ActivitySettings
from .base import MAX_SCORE, MIN_SCORE, Query, ScorerBase, WindowScores
from .change import changed, log_luma

__all__ = ["ActivityScorer"]

_FOREGROUND_RATE = 0.002  # changed pixels still leak in, so an object left behind is absorbed in minutes


class _Background:
    """Per-camera background in log brightness, so camera exposure changes (a gain) cancel out."""

    __slots__ = ("cache", "last_seq", "model")

    def __init__(self) -> None:
        self.model: NDArray[np.float32] | None = None
        self.last_seq = -1
        self.cache: OrderedDict[int, float] = OrderedDict()


class ActivityScorer(ScorerBase):
    """Score frames 1-5 by the fraction of pixels that changed against a slowly adapting background."""

    name = "activity"
    semantic = False
    input_size = 224
    windowed = False  # each frame is scored on its own; windows only batch them

    def __init__(self, settings: ActivitySettings | None = None) -> None:
        self.settings = settings or ActivitySettings()
        self._cameras: dict[str, _Background] = {}
        self._log_lo = float(np.log(self.settings.min_fraction))
        self._log_span = float(np.log(self.settings.max_fraction)) - self._log_lo

    def score(self, window: Window, queries: list[Query]) -> WindowScores:
        t0 = time.perf_counter()
        bg = self._cameras.setdefault(window.camera, _Background())
        values = np.empty(len(window.frames), dtype=np.float32)
        for i, frame in enumerate(window.frames):
            cached = bg.cache.get(frame.seq)
            if cached is None:
                cached = self._update(bg, frame) if frame.seq > bg.last_seq else MIN_SCORE
            values[i] = cached
        scores = {q.id: values.copy() for q in queries}
        return WindowScores(
            window=window,
            backend=self.name,
            scores=scores,
            semantic=False,
            latency_s=time.perf_counter() - t0,
        )

    def close(self) -> None:
        self._cameras.clear()
        return None

    def _update(self, bg: _Background, frame: Frame) -> float:
        fraction = self._fraction(bg, frame)
        if fraction <= 0.0:
            value = MIN_SCORE
        else:
            rel = (np.log(fraction) - self._log_lo) / self._log_span
            value = float(MIN_SCORE + (MAX_SCORE - MIN_SCORE) * np.clip(rel, 0.0, 1.0))
        bg.last_seq = frame.seq
        bg.cache[frame.seq] = value
        while len(bg.cache) > 512:
            bg.cache.popitem(last=False)
        return value

    def _fraction(self, bg: _Background, frame: Frame) -> float:
        x = log_luma(frame.image)
        if bg.model is None or bg.model.shape != x.shape:
            bg.model = x
            return 0.0
        moved = changed(x, bg.model, self.settings.pixel_threshold)
        rate = np.where(moved, _FOREGROUND_RATE, self.settings.learning_rate).astype(np.float32)
        bg.model += rate * (x - bg.model)
        return float(moved.mean())
