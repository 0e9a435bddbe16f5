"""Answering a question: parse its time and camera phrases, retrieve, select frames, answer, cite.

Retrieval covers the memory and, inside the service, the rolling buffer (:mod:`agents.retrieval`);
selection keeps the best few frames (:mod:`agents.selection`); an answering model (:mod:`agents.videoqa`)
sees them in time order with their timestamps. With no answering model the answer is extractive and
says so: the selected moments and frames, with their times, cameras, scores and thumbnails.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from streamer import redact_text

from .fileio import atomic_write
from .memory import MomentMemory
from .retrieval import Candidate, memory_candidates, merge_candidates, question_words, shared_words
from .selection import Selected, Selection, TimeSelection, text_vector
from .timeparse import QuestionFilter, parse_question
from .videoqa import QAFrame, VideoQA

__all__ = ["Answer", "Citation", "answer_question"]

log = logging.getLogger(__name__)

_KEEP_ASKED_FRAMES = 256  # cited buffer frames kept on disk (the newest)


@dataclass(frozen=True, slots=True)
class Citation:
    """A moment or frame an answer used.

    ``source`` is ``memory`` (a remembered moment: ``moment_id``, its time range, peak ``score`` and the
    standing queries that found it) or ``buffer`` (a recent frame not remembered yet). ``frame_time`` is
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


def _keep_frame(candidate: Candidate, folder: Path | None) -> str | None:
    """Write a cited buffer frame's JPEG where the reader can open it; keep only the newest few."""
    if folder is None or candidate.snapshot is None:
        return None
    path = folder / f"{candidate.camera}-{int(candidate.wall * 1000)}.jpg"
    try:
        if not path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write(path, candidate.snapshot)
    except OSError as exc:
        log.warning("ask: cannot keep the cited frame %s: %s", path.name, redact_text(str(exc)))
        return None
    return str(path)


def _prune_kept(folder: Path) -> None:
    """Keep only the newest cited buffer frames."""
    try:
        kept = sorted(folder.glob("*.jpg"), key=lambda p: p.stat().st_mtime)
        for old in kept[:-_KEEP_ASKED_FRAMES]:
            old.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("ask: cannot prune the cited frames in %s: %s", folder, redact_text(str(exc)))


def _cite(chosen: Selected, frames_dir: Path | None, scale: str) -> Citation:
    c, m = chosen.candidate, chosen.candidate.moment
    relevance = chosen.relevance if scale != "time" else None
    if m is not None:
        return Citation(c.camera, m.start_wall, m.end_wall, c.wall, "memory", m.id, m.peak, relevance,
                        dict(m.query_texts), m.thumbnail)  # fmt: skip
    return Citation(c.camera, c.wall, c.wall, c.wall, "buffer", None, None, relevance, {}, _keep_frame(c, frames_dir))


def _line(c: Citation) -> str:
    graded = f", relevance {c.relevance:.2f}" if c.relevance is not None else ""
    if c.source == "buffer":
        where = f", {c.thumbnail}" if c.thumbnail else ""
        return f"- {_iso(c.frame_time)} on {c.camera}: a recent frame from the rolling buffer{graded}{where}"
    found = ", ".join(f"'{t}'" for t in c.queries.values()) or "a scene change"
    score = f" (score {c.score:.1f}{graded})" if c.score is not None else ""
    return f"- {_iso(c.start)} to {_iso(c.end)} on {c.camera}: {found}{score}"


def _extractive(
    asked: QuestionFilter, chosen: list[Selected], citations: list[Citation], selection: str, buffered: bool
) -> str:
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


def answer_question(
    question: str,
    memory: MomentMemory,
    *,
    asked: QuestionFilter | None = None,
    buffered: Sequence[Candidate] = (),
    selection: Selection | None = None,
    answerer: VideoQA | None = None,
    limit: int = 5,
    budget: int = 8,
    pool: int = 64,
    now: datetime | None = None,
    frames_dir: Path | None = None,
    timings: dict[str, float] | None = None,
) -> Answer:
    """Answer ``question`` over the memory and the ``buffered`` frames (from the running service).

    ``selection`` picks the frames (default: by time and words, no model); ``answerer`` answers from
    them (default: an extractive answer). The model sees at most ``budget`` frames; an extractive answer
    cites at most ``limit``. Blocking (disk, models): run it in a worker thread."""
    timings = dict(timings or {})
    t0 = time.perf_counter()
    if asked is None:
        asked = parse_question(question, now or datetime.now().astimezone(), memory.cameras())
        timings["parse"] = (time.perf_counter() - t0) * 1e3
    selection = selection or TimeSelection()
    semantic = asked.text or question
    t1 = time.perf_counter()
    remembered = memory_candidates(asked, memory, text_vector=text_vector(selection, semantic), pool=pool)
    candidates = merge_candidates(remembered, list(buffered))
    t2 = time.perf_counter()
    keep = budget if answerer is not None else limit
    chosen = selection.select(semantic, candidates, keep) if candidates else []
    t3 = time.perf_counter()
    name = selection.name
    if name in ("gens", "cascade") and chosen and max(s.relevance for s in chosen) < 1.0:
        name += " (named no frame; retrieval order)"
    text, backend = "", "extractive"
    if answerer is not None and chosen:
        shown = [(s, px) for s in chosen if (px := s.candidate.pixels(large=True)) is not None]
        chosen = [s for s, _ in shown]
        frames = [QAFrame(s.candidate.camera, s.candidate.wall, px, s.candidate.source,
                          s.candidate.moment.id if s.candidate.moment else None, s.candidate.thumbnail)
                  for s, px in shown]  # fmt: skip
        text = answerer.answer(semantic, frames) if frames else "No remembered or buffered frame could be read."
        backend = answerer.name
    citations = [_cite(s, frames_dir, selection.name) for s in chosen]
    if frames_dir is not None and any(c.source == "buffer" and c.thumbnail for c in citations):
        _prune_kept(frames_dir)  # once per answer, not per frame
    if backend == "extractive":
        text = _extractive(asked, chosen, citations, name, bool(buffered))
    t4 = time.perf_counter()
    timings["retrieve"] = timings.get("retrieve", 0.0) + (t2 - t1) * 1e3
    timings["select"] = (t3 - t2) * 1e3
    timings["answer"] = (t4 - t3) * 1e3
    return Answer(
        question=question,
        text=text,
        backend=backend,
        selection=name,
        citations=citations,
        candidates={"memory": len(remembered), "buffer": sum(c.source == "buffer" for c in candidates)},
        timings_ms={k: timings[k] for k in ("parse", "retrieve", "select", "answer") if k in timings},
        filters=_filters(asked),
    )
