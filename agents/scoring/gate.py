"""The change gate: a model sees a camera's frame only when the scene changed since the last frame it saw.

Most frames of a camera show nothing new. In front of a model backend the gate compares each new frame
with the last frame the model scored for that view (a camera, or one zone of it) by the pixel measure of
:mod:`.change`: when at least ``min_change`` of the pixels moved, the frame goes to the model. Otherwise
it is held: each query's last score is carried forward, fading towards 1 by ``decay_per_s`` per second, so
an alert still ends when a change too slow for the gate settles; the last frame embedding is carried
with it. A frame always goes through when it is the first of a session (the stream opened, reconnected
or looped), when a query has no score yet on the view, or when the view has been held for ``refresh_s``.

Windowed backends (GenS, the cascade, a remote VLM) read a window as a sequence: a window none of whose
new frames changed reuses the last window's scores instead of being scored again (result reuse), and a
window with any change is scored whole. Frame-by-frame backends (embedding) get only the changed frames,
batched across cameras as before.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from streamer.frames import Frame, Window

from ..config import GateSettings
from ..models import ModelFault
from .base import MIN_SCORE, Query, ScoreJob, Scorer, ScorerBase, WindowScores, all_scored
from .change import changed, log_luma

__all__ = ["GatedScorer"]


class _View:
    """What the gate remembers of one camera (or zone): the last frame the model saw and what it said."""

    __slots__ = ("embedding", "reference", "reference_pts", "scored_pts", "scores")

    def __init__(self) -> None:
        self.reference: NDArray[np.float32] | None = None  # log brightness of the last frame sent to the model
        self.reference_pts = 0.0
        self.scores: dict[str, float] = {}  # each query's score of the last frame the model scored
        self.scored_pts = 0.0
        self.embedding: NDArray[np.float32] | None = None


@dataclass(frozen=True, slots=True)
class _Plan:
    """The gate's verdict on one job: which new frames go to the model, and the window that carries them."""

    view: _View
    sent: NDArray[np.bool_]  # one flag per new frame
    to_model: Window | None


class GatedScorer(ScorerBase):
    """Any scorer behind the change gate; it keeps the inner backend's name, so alerts name the model."""

    def __init__(self, inner: Scorer, settings: GateSettings) -> None:
        self.inner = inner
        self.settings = settings
        self.name = inner.name
        self.semantic = inner.semantic
        self.input_size = inner.input_size
        self.windowed = inner.windowed
        self.embedder = inner.embedder
        self.grader = inner.grader
        # Called (from the scoring thread) with a view's name when a frame changed enough to pass: motion.
        self.on_motion: Callable[[str], None] | None = None
        self._views: dict[str, _View] = {}

    def close(self) -> None:
        self.inner.close()
        return None

    def forget(self, camera: str) -> None:
        """Drop what the gate remembers of ``camera`` and its zones (the camera was removed).

        Called on the event loop while a batch may be scoring: a batch holds its views in its plans."""
        for key in [k for k in list(self._views) if k == camera or k.startswith(camera + "#")]:
            self._views.pop(key, None)

    def score(self, window: Window, queries: list[Query]) -> WindowScores:
        return self.score_batch([(window, queries)])[0]

    def score_batch(self, jobs: Sequence[ScoreJob]) -> list[WindowScores]:
        return all_scored(self.score_jobs(jobs))

    def score_jobs(self, jobs: Sequence[ScoreJob]) -> list[WindowScores | ModelFault]:
        t0 = time.perf_counter()
        before = [self._views.get(window.camera) for window, _ in jobs]
        saved = [(v.reference, v.reference_pts) if v is not None else None for v in before]
        plans = [self._plan(window, queries) for window, queries in jobs]
        to_model = [(p.to_model, queries) for p, (_, queries) in zip(plans, jobs, strict=True) if p.to_model]
        scored = iter(self.inner.score_jobs(to_model) if to_model else [])
        gate_s = (time.perf_counter() - t0) / max(1, len(jobs))
        out: list[WindowScores | ModelFault] = []
        for (window, queries), plan, kept in zip(jobs, plans, saved, strict=True):
            result = next(scored) if plan.to_model else None
            if isinstance(result, ModelFault):
                # The model never saw these frames: the next ones are compared with what it last saw.
                plan.view.reference, plan.view.reference_pts = kept if kept is not None else (None, 0.0)
                out.append(result)
            else:
                out.append(self._assemble(window, queries, plan, result, gate_s))
        return out

    def _plan(self, window: Window, queries: list[Query]) -> _Plan:
        view = self._views.setdefault(window.camera, _View())
        new = window.new_frames
        sent = np.zeros(len(new), dtype=bool)
        unknown = any(q.id not in view.scores for q in queries)
        for i, frame in enumerate(new):
            x = log_luma(frame.image)
            if self._passes(view, frame, x, force=unknown and i == 0):
                sent[i] = True
                view.reference, view.reference_pts = x, frame.pts
        if self.windowed:
            if not sent.any():
                return _Plan(view, sent, None)
            # A window is scored whole or not at all; the model saw up to its last frame.
            view.reference, view.reference_pts = log_luma(new[-1].image), new[-1].pts
            return _Plan(view, np.ones(len(new), dtype=bool), window)
        frames = tuple(f for f, s in zip(new, sent, strict=True) if s)
        return _Plan(view, sent, Window(window.camera, frames) if frames else None)

    def _passes(self, view: _View, frame: Frame, x: NDArray[np.float32], *, force: bool) -> bool:
        ref = view.reference
        if force or frame.first or ref is None or ref.shape != x.shape:
            return True
        if float(changed(x, ref, self.settings.pixel_threshold).mean()) >= self.settings.min_change:
            if self.on_motion is not None:
                self.on_motion(frame.camera if "#" not in frame.camera else frame.camera.split("#", 1)[0])
            return True
        return frame.pts - view.reference_pts >= self.settings.refresh_s

    def _assemble(
        self, window: Window, queries: list[Query], plan: _Plan, result: WindowScores | None, gate_s: float
    ) -> WindowScores:
        view = plan.view
        n, start = len(window.frames), window.new_from
        scores = {q.id: np.full(n, MIN_SCORE, dtype=np.float32) for q in queries}
        dim = result.embeddings.shape[1] if result is not None and result.embeddings is not None else None
        if dim is None and view.embedding is not None:
            dim = view.embedding.shape[0]
        embeddings = np.zeros((n, dim), dtype=np.float32) if dim is not None else None
        k = 0  # index in the window the model scored (frame-by-frame: the sent frames only)
        for i, frame in enumerate(window.new_frames):
            if plan.sent[i] and result is not None:
                j = start + i if self.windowed else k
                k += 1
                for q in queries:
                    view.scores[q.id] = float(result.scores[q.id][j])
                view.scored_pts = frame.pts
                if result.embeddings is not None:
                    view.embedding = result.embeddings[j]
                for q in queries:
                    scores[q.id][start + i] = view.scores[q.id]
            else:
                fade = self.settings.decay_per_s ** max(0.0, frame.pts - view.scored_pts)
                for q in queries:
                    last = view.scores.get(q.id, MIN_SCORE)
                    scores[q.id][start + i] = MIN_SCORE + (last - MIN_SCORE) * fade
            if embeddings is not None and view.embedding is not None:
                embeddings[start + i] = view.embedding
        sent = np.zeros(n, dtype=bool)
        sent[start:] = plan.sent
        return WindowScores(
            window,
            result.backend if result is not None else self.name,
            scores,
            semantic=self.semantic,
            latency_s=(result.latency_s if result is not None else 0.0) + gate_s,
            embeddings=embeddings,
            sent=sent,
        )
