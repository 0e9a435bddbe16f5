"""Answers and citations: what an answer says, what it cites, and the extractive text given without a model."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ..memory.asked import AskedFrames
from .retrieval import question_words, shared_words
from .selection import Selected
from .timeparse import QuestionFilter

__all__ = ["Answer", "Citation", "cite", "extractive_text", "filters_of"]


@dataclass(frozen=True, slots=True)
class Citation:
    """A moment or frame an answer used.

    ``source`` is ``memory`` (a remembered moment: ``moment_id``, its time range, peak ``score`` and the
    standing queries that found it), ``buffer`` (a recent frame not remembered yet) or ``clip`` (a frame of the
    asked alert's clip). ``frame_time`` is
    when the cited picture was taken; ``relevance`` is the selector's grade for it."""

    camera: str
    start: float
    end: float
    frame_time: float
    source: str
    moment_id: str | None
    score: float | None
    relevance: float | None
    queries: dict[str, str]
    thumbnail: str | None

    def to_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "moment_id": self.moment_id,
            "camera": self.camera,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "start_iso": _iso(self.start),
            "end_iso": _iso(self.end),
            "frame_time": round(self.frame_time, 3),
            "frame_iso": _iso(self.frame_time),
            "score": round(self.score, 2) if self.score is not None else None,
            "relevance": round(self.relevance, 3) if self.relevance is not None else None,
            "queries": self.queries,
            "thumbnail": self.thumbnail,
        }


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer with what it cites, how its frames were chosen, and where the time went."""

    question: str
    text: str
    backend: str
    selection: str = "time"
    citations: list[Citation] = field(default_factory=list)
    candidates: dict[str, int] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)
    filters: dict[str, str | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "question": self.question,
            "filters": self.filters,
            "answer": self.text,
            "backend": self.backend,
            "selection": self.selection,
            "candidates": self.candidates,
            "citations": [c.to_dict() for c in self.citations],
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
        }


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds")


def filters_of(asked: QuestionFilter) -> dict[str, str | None]:
    """The filters read from a question, as the answer reports them."""
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


def cite(chosen: Selected, graded: bool, asked: AskedFrames | None) -> Citation:
    """The citation of a chosen frame; a buffered one is written to ``asked`` so it can be opened. Blocking (disk)."""
    c, m = chosen.candidate, chosen.candidate.moment
    relevance = chosen.relevance if graded else None
    if c.source == "clip" and m is not None:
        kept = asked.keep(c.camera, c.wall, c.snapshot) if asked is not None and c.snapshot is not None else None
        return Citation(c.camera, m.start_wall, m.end_wall, c.wall, "clip", m.id, m.peak, relevance,
                        dict(m.query_texts), kept or m.thumbnail)  # fmt: skip
    if m is not None:
        return Citation(c.camera, m.start_wall, m.end_wall, c.wall, "memory", m.id, m.peak, relevance,
                        dict(m.query_texts), m.thumbnail)  # fmt: skip
    kept = asked.keep(c.camera, c.wall, c.snapshot) if asked is not None and c.snapshot is not None else None
    return Citation(c.camera, c.wall, c.wall, c.wall, "buffer", None, None, relevance, {}, kept)


def _line(c: Citation) -> str:
    graded = f", relevance {c.relevance:.2f}" if c.relevance is not None else ""
    if c.source == "buffer":
        where = f", {c.thumbnail}" if c.thumbnail else ""
        return f"- {_iso(c.frame_time)} on {c.camera}: a recent frame from the rolling buffer{graded}{where}"
    if c.source == "clip":
        return f"- {_iso(c.frame_time)} on {c.camera}: a frame of alert {c.moment_id}'s clip{graded}"
    found = ", ".join(f"'{t}'" for t in c.queries.values()) or "a scene change"
    score = f" (score {c.score:.1f}{graded})" if c.score is not None else ""
    return f"- {_iso(c.start)} to {_iso(c.end)} on {c.camera}: {found}{score}"


def extractive_text(
    asked: QuestionFilter, chosen: list[Selected], citations: list[Citation], selection: str, buffered: bool
) -> str:
    """The answer given without an answering model: what was found, with times, cameras and scores."""
    scope = _scope(asked)
    if not citations:
        where = "remembered or buffered" if buffered else "remembered"
        return f"Nothing is {where}{scope}, so there is nothing to answer from."
    words = question_words(asked.text)
    if selection == "time":
        matching = any(c.moment is not None and shared_words(words, c.moment) for c in (s.candidate for s in chosen))
        lead = (
            f"{len(citations)} remembered moment(s) or frame(s) match the words of the question"
            if matching
            else f"No remembered moment matches the words of the question; the {len(citations)} most relevant "
            "recent one(s) follow"
        )
    else:
        lead = f"{selection} chose {len(citations)} frame(s) as the most relevant"
    text = (
        "No answering model is configured (qa.backend: none), so this answer is extractive. "
        + lead
        + scope
        + ":\n"
        + "\n".join(_line(c) for c in citations)
    )
    moments = [s.candidate.moment for s in chosen if s.candidate.moment is not None]
    if moments and not any(m.semantic for m in moments) and selection == "time":
        text += (
            "\nThese moments come from the activity scorer (no model): they show that something happened, "
            "not what. Semantic search needs an embedding model."
        )
    return text
