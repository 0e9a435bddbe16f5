"""Answering questions over remembered moments.

With no answering model configured the answer is extractive and says so: the moments that best
match the question, with their times, cameras, scores and thumbnails.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from PIL import Image

from .memory import Moment, MomentMemory
from .timeparse import QuestionFilter, parse_question
from .videoqa import QAFrame, VideoQA

__all__ = ["Answer", "Citation", "answer_question"]

_STOP = frozenset(
    {
        "a",
        "an",
        "the",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "did",
        "do",
        "does",
        "when",
        "where",
        "what",
        "who",
        "which",
        "how",
        "why",
        "at",
        "on",
        "in",
        "of",
        "to",
        "for",
        "and",
        "or",
        "with",
        "by",
        "from",
        "it",
        "its",
        "this",
        "that",
        "there",
        "their",
        "they",
        "he",
        "she",
        "any",
        "ever",
        "last",
    }
)


@dataclass(frozen=True, slots=True)
class Citation:
    """A moment an answer used."""

    moment_id: str
    camera: str
    start: float
    end: float
    score: float
    queries: dict[str, str]
    thumbnail: str | None

    def to_dict(self) -> dict[str, object]:
        return {
            "moment_id": self.moment_id,
            "camera": self.camera,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "start_iso": _iso(self.start),
            "end_iso": _iso(self.end),
            "score": round(self.score, 2),
            "queries": self.queries,
            "thumbnail": self.thumbnail,
        }


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer with the moments it cites and where the time went."""

    question: str
    text: str
    backend: str
    citations: list[Citation] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    filters: dict[str, str | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "question": self.question,
            "filters": self.filters,
            "answer": self.text,
            "backend": self.backend,
            "citations": [c.to_dict() for c in self.citations],
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
        }


def _answer_with_model(
    question: str,
    asked: QuestionFilter,
    ranked: list[Moment],
    answerer: VideoQA,
    budget: int,
    timings: dict[str, float],
) -> Answer:
    """Give the best ``budget`` moments' keyframes, in time order with their timestamps, to the model."""
    t0 = time.perf_counter()
    frames: list[QAFrame] = []
    for m in ranked:
        if len(frames) == budget:
            break
        if not m.thumbnail:
            continue
        try:
            with Image.open(m.thumbnail) as img:
                pixels = np.asarray(img.convert("RGB"))
        except OSError:
            continue  # a thumbnail evicted or damaged: cite only what the model saw
        frames.append(QAFrame(m.camera, m.start_wall, pixels, "memory", m.id, m.thumbnail))
    frames.sort(key=lambda f: f.wall)
    t1 = time.perf_counter()
    text = answerer.answer(asked.text or question, frames) if frames else "No remembered frame to look at."
    t2 = time.perf_counter()
    by_id = {m.id: m for m in ranked}
    citations = [
        Citation(m.id, m.camera, m.start_wall, m.end_wall, m.peak, dict(m.query_texts), m.thumbnail)
        for m in (by_id[f.moment_id] for f in frames if f.moment_id in by_id)
    ]
    return Answer(
        question=question,
        text=text,
        backend=answerer.name,
        citations=citations,
        timings_ms={**timings, "select": timings["select"] + (t1 - t0) * 1e3, "answer": (t2 - t1) * 1e3},
        filters=_filters(asked),
    )


def _filters(asked: QuestionFilter) -> dict[str, str | None]:
    return {
        "since": asked.since.isoformat(timespec="seconds") if asked.since else None,
        "until": asked.until.isoformat(timespec="seconds") if asked.until else None,
        "camera": asked.camera,
        "text": asked.text,
    }


def _scope(asked: QuestionFilter) -> str:
    parts = []
    if asked.camera:
        parts.append(f" on {asked.camera}")
    if asked.since and asked.until:
        parts.append(f" between {asked.since:%Y-%m-%d %H:%M} and {asked.until:%Y-%m-%d %H:%M}")
    return "".join(parts)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds")


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOP}


def _relevance(question_words: set[str], moment: Moment) -> int:
    texts = " ".join(moment.query_texts.values())
    return len(question_words & _words(texts))


def answer_question(
    question: str,
    memory: MomentMemory,
    *,
    limit: int = 5,
    pool: int = 500,
    now: datetime | None = None,
    answerer: VideoQA | None = None,
    budget: int = 8,
) -> Answer:
    """Answer extractively: the question's time and camera phrases filter the moments, and the moments are
    ranked by the words they share with the queries that found them."""
    t0 = time.perf_counter()
    asked = parse_question(question, now or datetime.now().astimezone(), memory.cameras())
    words = _words(asked.text)
    t1 = time.perf_counter()
    candidates = memory.search(
        camera=asked.camera,
        since=asked.since.timestamp() if asked.since else None,
        until=asked.until.timestamp() if asked.until else None,
        limit=pool,
    )
    t2 = time.perf_counter()
    ranked = sorted(candidates, key=lambda m: (_relevance(words, m), m.peak, m.start_wall), reverse=True)
    matching = [m for m in ranked if _relevance(words, m) > 0]
    chosen = (matching or ranked)[:limit]
    chosen.sort(key=lambda m: m.start_wall)
    t3 = time.perf_counter()
    citations = [
        Citation(m.id, m.camera, m.start_wall, m.end_wall, m.peak, dict(m.query_texts), m.thumbnail) for m in chosen
    ]
    scope = _scope(asked)
    if answerer is not None and chosen:
        return _answer_with_model(question, asked, ranked, answerer, budget, {"parse": (t1 - t0) * 1e3,
                                  "retrieve": (t2 - t1) * 1e3, "select": (t3 - t2) * 1e3})  # fmt: skip
    if not chosen:
        text = f"Nothing is remembered{scope}, so there is nothing to answer from."
    else:
        lead = (
            f"{len(chosen)} remembered moment(s) match the words of the question"
            if matching
            else f"No remembered moment matches the words of the question; the {len(chosen)} most relevant recent "
            "one(s) follow"
        )
        lines = [
            f"- {_iso(c.start)} to {_iso(c.end)} on {c.camera}: "
            + ", ".join(f"'{t}'" for t in c.queries.values())
            + f" (score {c.score:.1f})"
            for c in citations
        ]
        text = (
            "No answering model is configured (qa.backend: none), so this answer is extractive. "
            + lead
            + scope
            + ":\n"
            + "\n".join(lines)
        )
        if not any(m.semantic for m in chosen):
            text += (
                "\nThese moments come from the activity scorer (no model): they show that something happened, "
                "not what. Semantic search needs an embedding model."
            )
    return Answer(
        question=question,
        filters=_filters(asked),
        text=text,
        backend="extractive",
        citations=citations,
        timings_ms={
            "parse": (t1 - t0) * 1e3,
            "retrieve": (t2 - t1) * 1e3,
            "select": (t3 - t2) * 1e3,
            "answer": 0.0,
        },
    )
