"""Frame selection: keep the few candidate frames that best answer a question, within a frame budget.

A grader (GenS, the same model and weights that score windows against standing queries) grades the
candidates against the question itself; with an embedder as well (the cascade) the embedding model
shortlists candidates first. With only an embedder, candidates are ranked by similarity to the question;
with no model, the retrieval's own order stands (the question's words shared with standing queries, peak
score, recency). What the scorer can do decides: its ``grader`` and ``embedder``, never its class.
Selections come back in time order, because that is how the answering model and the reader see them.

Blocking (model inference): call ``select`` and ``text_vector`` behind the inference limiter.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from ..scoring import FrameGrader, Scorer, TextImageEmbedder
from .retrieval import Candidate

__all__ = [
    "EmbeddingSelection",
    "GensSelection",
    "Picked",
    "Selected",
    "Selection",
    "TimeSelection",
    "selection_for",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Selected:
    """A chosen candidate and the selector's relevance for it (GenS 1-5, cosine similarity, or the prior)."""

    candidate: Candidate
    relevance: float


@dataclass(frozen=True, slots=True)
class Picked:
    """What a selection chose, in time order, and how (its name, or why it fell back to the retrieval's order)."""

    chosen: list[Selected]
    how: str
    graded: bool  # whether ``relevance`` is a model's grade (not the retrieval's prior)


class Selection(Protocol):
    """Picks at most ``budget`` candidates for a question."""

    name: str
    uses_model: bool

    def select(self, question: str, candidates: list[Candidate], budget: int) -> Picked: ...

    def text_vector(self, text: str) -> NDArray[np.float32] | None: ...


def _in_time_order(chosen: list[Selected]) -> list[Selected]:
    return sorted(chosen, key=lambda s: (s.candidate.wall, s.candidate.camera))


def _best(scored: list[tuple[float, Candidate]], budget: int) -> list[Selected]:
    ranked = sorted(scored, key=lambda t: (t[0], t[1].prior, t[1].wall), reverse=True)
    return _in_time_order([Selected(c, s) for s, c in ranked[:budget]])


class TimeSelection:
    """No model: the retrieval's order (shared words and peak for moments; buffered frames after them, newest first)."""

    name = "time"
    uses_model = False

    def select(self, question: str, candidates: list[Candidate], budget: int) -> Picked:
        return Picked(_best([(c.prior, c) for c in candidates], budget), self.name, graded=False)

    def text_vector(self, text: str) -> NDArray[np.float32] | None:
        return None


class EmbeddingSelection:
    """Rank candidates by cosine similarity between their pixels and the question's text embedding."""

    uses_model = True

    def __init__(self, embedder: TextImageEmbedder, *, name: str = "embedding", batch: int = 32) -> None:
        self.embedder = embedder
        self.name = name
        self.batch = batch
        self._last: tuple[str, NDArray[np.float32]] | None = None

    def text_vector(self, text: str) -> NDArray[np.float32]:
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
        text = self.text_vector(question)
        sims: list[float] = []
        for i in range(0, len(usable), self.batch):
            vectors = self.embedder.embed_images([px for _, px in usable[i : i + self.batch]])
            sims += (vectors @ text).astype(float).tolist()
        return [(s, c) for s, (c, _) in zip(sims, usable, strict=True)]

    def select(self, question: str, candidates: list[Candidate], budget: int) -> Picked:
        return Picked(_best(self.rank(question, candidates), budget), self.name, graded=True)


class GensSelection:
    """A grader grades the candidates, shown to it as one 1 fps sequence per ``max_frames``, against the question.

    Frames it does not name are not relevant to it; if it names none at all (a malformed or empty answer),
    the retrieval's order decides, and the result says so. With a ``shortlist`` (the cascade), the embedding
    model first keeps the ``max_frames`` most similar candidates.
    """

    uses_model = True

    def __init__(self, grader: FrameGrader, *, name: str = "gens", shortlist: EmbeddingSelection | None = None) -> None:
        self.grader = grader
        self.name = name
        self.shortlist = shortlist

    def text_vector(self, text: str) -> NDArray[np.float32] | None:
        return self.shortlist.text_vector(text) if self.shortlist is not None else None

    def select(self, question: str, candidates: list[Candidate], budget: int) -> Picked:
        window = self.grader.max_frames
        if self.shortlist is not None and len(candidates) > window:
            ranked = sorted(self.shortlist.rank(question, candidates), key=lambda t: t[0], reverse=True)
            candidates = sorted((c for _, c in ranked[:window]), key=lambda c: c.wall)
        usable = [(c, px) for c in candidates if (px := c.pixels()) is not None]
        named: list[tuple[float, Candidate]] = []
        for i in range(0, len(usable), window):
            chunk = usable[i : i + window]
            grades = self.grader.grade([px for _, px in chunk], question)
            named += [(float(s), c) for s, n, (c, _) in zip(grades.scores, grades.named, chunk, strict=True) if n]
        if not named:
            log.info("%s named none of %d candidate frames; keeping the retrieval's order", self.name, len(usable))
            fallback = _best([(c.prior, c) for c, _ in usable], budget)
            return Picked(fallback, f"{self.name} (named no frame; retrieval order)", graded=False)
        return Picked(_best(named, budget), self.name, graded=True)


def selection_for(scorer: Scorer | None) -> Selection:
    """The best selection the scorer's models allow: its grader (with its embedder as a shortlist), its embedder,
    or no model at all."""
    if scorer is None:
        return TimeSelection()
    grader, embedder = scorer.grader, scorer.embedder
    if grader is not None:
        shortlist = EmbeddingSelection(embedder) if embedder is not None else None
        return GensSelection(grader, name=scorer.name, shortlist=shortlist)
    if embedder is not None:
        return EmbeddingSelection(embedder, name=scorer.name)
    return TimeSelection()
