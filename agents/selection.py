"""Frame selection: keep the few candidate frames that best answer a question, within a frame budget.

GenS scores the candidates against the question itself, as it scores windows against standing queries
(the same backend and weights); the cascade lets the embedding model shortlist candidates first. Without
GenS the embedding model ranks them by similarity to the question; without either, the retrieval's own
order stands (the question's words shared with standing queries, peak score, recency). Selections come
back in time order, because that is how the answering model and the reader see them.

Blocking (model inference): call from a worker thread, behind the service's inference limiter.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from streamer import Frame, Window

from .retrieval import Candidate
from .scoring import Query, Scorer
from .scoring.cascade import CascadeScorer
from .scoring.embedding import EmbeddingScorer
from .scoring.gens import GensScorer

__all__ = [
    "EmbeddingSelection",
    "GensSelection",
    "Selected",
    "Selection",
    "TimeSelection",
    "selection_for",
    "text_vector",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Selected:
    """A chosen candidate and the selector's relevance for it (GenS 1-5, cosine similarity, or the prior)."""

    candidate: Candidate
    relevance: float


class Selection(Protocol):
    """Picks at most ``budget`` candidates for a question; returns them in time order."""

    name: str

    def select(self, question: str, candidates: list[Candidate], budget: int) -> list[Selected]: ...


def _in_time_order(chosen: list[Selected]) -> list[Selected]:
    return sorted(chosen, key=lambda s: (s.candidate.wall, s.candidate.camera))


def _best(scored: list[tuple[float, Candidate]], budget: int) -> list[Selected]:
    ranked = sorted(scored, key=lambda t: (t[0], t[1].prior, t[1].wall), reverse=True)
    return _in_time_order([Selected(c, s) for s, c in ranked[:budget]])


class TimeSelection:
    """No model: the retrieval's order (shared words and peak for moments; buffered frames after them, newest first)."""

    name = "time"

    def select(self, question: str, candidates: list[Candidate], budget: int) -> list[Selected]:
        return _best([(c.prior, c) for c in candidates], budget)


class EmbeddingSelection:
    """Rank candidates by cosine similarity between their pixels and the question's text embedding."""

    name = "embedding"

    def __init__(self, embedder: EmbeddingScorer, batch: int = 32) -> None:
        self.embedder = embedder
        self.batch = batch
        self._last: tuple[str, NDArray[np.float32]] | None = None

    def text_embedding(self, text: str) -> NDArray[np.float32]:
        """The text's embedding; the last one is kept, as memory search and ranking both need the question's."""
        last = self._last
        if last is not None and last[0] == text:
            return last[1]
        vector: NDArray[np.float32] = self.embedder.embed_texts([text])[0]
        self._last = (text, vector)
        return vector

    def rank(self, question: str, candidates: list[Candidate]) -> list[tuple[float, Candidate]]:
        """Every candidate with a readable picture, with its similarity to the question."""
        usable = [(c, px) for c in candidates if (px := c.pixels()) is not None]
        if not usable:
            return []
        text = self.text_embedding(question)
        sims: list[float] = []
        for i in range(0, len(usable), self.batch):
            vectors = self.embedder.embed_images([px for _, px in usable[i : i + self.batch]])
            sims += (vectors @ text).astype(float).tolist()
        return [(s, c) for s, (c, _) in zip(sims, usable, strict=True)]

    def select(self, question: str, candidates: list[Candidate], budget: int) -> list[Selected]:
        return _best(self.rank(question, candidates), budget)


class GensSelection:
    """GenS grades the candidates, shown to it as one 1 fps sequence per ``window`` frames, against the question.

    Frames GenS does not name are not relevant to it; if it names none at all (a malformed or empty
    answer), the retrieval's order decides, and the selection's name says so. With a ``shortlist`` (the
    cascade), the embedding model first keeps the ``window`` most similar candidates.
    """

    def __init__(self, gens: GensScorer, *, window: int = 32, shortlist: EmbeddingSelection | None = None) -> None:
        self.gens = gens
        self.window = window
        self.shortlist = shortlist
        self.name = "cascade" if shortlist is not None else "gens"

    def select(self, question: str, candidates: list[Candidate], budget: int) -> list[Selected]:
        if self.shortlist is not None and len(candidates) > self.window:
            ranked = sorted(self.shortlist.rank(question, candidates), key=lambda t: t[0], reverse=True)
            candidates = sorted((c for _, c in ranked[: self.window]), key=lambda c: c.wall)
        usable = [(c, px) for c in candidates if (px := c.pixels()) is not None]
        query = Query("ask", question, 1.0)
        graded: list[tuple[float, Candidate]] = []
        for i in range(0, len(usable), self.window):
            chunk = usable[i : i + self.window]
            # GenS reads its frames as a 1 fps sequence: frame k is second k, whatever the real spacing.
            frames = tuple(Frame(c.camera, k, float(k), c.wall, px) for k, (c, px) in enumerate(chunk))
            scores = self.gens.score(Window("ask", frames), [query]).scores["ask"]
            graded += [(float(s), c) for s, (c, _) in zip(scores, chunk, strict=True)]
        named = [(s, c) for s, c in graded if s >= 1.0]
        if not named:
            log.info("GenS named none of %d candidate frames; keeping the retrieval's order", len(graded))
            return _best([(0.0, c) for _, c in graded], budget)
        return _best(named, budget)


def selection_for(scorer: Scorer | None) -> Selection:
    """The best selection the loaded scorer allows: GenS (or the cascade), the embedding model, or time."""
    if isinstance(scorer, CascadeScorer):
        return GensSelection(scorer.second, shortlist=EmbeddingSelection(scorer.first))
    if isinstance(scorer, GensScorer):
        return GensSelection(scorer)
    if isinstance(scorer, EmbeddingScorer):
        return EmbeddingSelection(scorer)
    return TimeSelection()


def text_vector(selection: Selection, text: str) -> NDArray[np.float32] | None:
    """The question's text embedding, when the selection holds an embedding model (for memory search)."""
    if isinstance(selection, EmbeddingSelection):
        return selection.text_embedding(text)
    if isinstance(selection, GensSelection) and selection.shortlist is not None:
        return selection.shortlist.text_embedding(text)
    return None
