"""The cascade: the embedding model screens every window, GenS judges only the ones that stand out.

GenS is the best judge of relevance and by far the most expensive; most windows of a camera show its
usual background. The embedding scorer (calibrated against that background) runs first; a query's
window goes on to GenS only when some new frame rises to ``gate`` on the 1-5 scale. Windows that do
not pass keep the embedding scores, capped below the gate, so they never alert on their own.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from streamer.frames import Window

from ..config import ScorerConfig
from .base import Query, ScoreJob, ScorerBase, WindowScores
from .embedding import EmbeddingScorer
from .gens import GensScorer

__all__ = ["CascadeScorer"]


class CascadeScorer(ScorerBase):
    """Embedding first, GenS on what passes the gate."""

    name = "cascade"
    semantic = True
    windowed = True

    def __init__(self, config: ScorerConfig) -> None:
        self.gate = config.cascade_gate
        self.first = EmbeddingScorer(config.embedding)
        self.second = GensScorer(config.gens)
        self.input_size = max(self.first.input_size, self.second.input_size)
        self.embedder = self.first
        self.grader = self.second
        self.windows = 0
        self.passed = 0

    def close(self) -> None:
        self.first.close()
        self.second.close()
        return None

    def score(self, window: Window, queries: list[Query]) -> WindowScores:
        return self.score_batch([(window, queries)])[0]

    def score_batch(self, jobs: Sequence[ScoreJob]) -> list[WindowScores]:
        t0 = time.perf_counter()
        screened = self.first.score_batch(jobs)
        out = []
        for (window, queries), first in zip(jobs, screened, strict=True):
            self.windows += 1
            passing = [q for q in queries if float(first.scores[q.id][window.new_from :].max()) >= self.gate]
            scores: dict[str, NDArray[np.float32]] = {
                q.id: np.minimum(first.scores[q.id], np.float32(self.gate - 0.01)) for q in queries
            }
            if passing:
                self.passed += 1
                judged = self.second.score(window, passing)
                scores.update(judged.scores)
            out.append(
                WindowScores(
                    window,
                    self.name,
                    scores,
                    semantic=True,
                    latency_s=(time.perf_counter() - t0) / max(1, len(jobs)),
                    embeddings=first.embeddings,
                )
            )
        return out
