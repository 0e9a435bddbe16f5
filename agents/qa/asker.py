"""Answering a question: parse its time and camera phrases, retrieve, select frames, answer, cite.

Retrieval covers the memory and, inside the running service, the cameras' rolling buffers
(:mod:`.retrieval`; in a fleet, those of the cameras other nodes hold too); selection keeps the best few frames
with the scorer's own models (:mod:`.selection`); an answering model (:mod:`.answering`) sees them in time order
with their timestamps. With no answering model the answer is extractive and says so. The service and
``feedwatch ask`` on the disk share this one pipeline.

Only model calls hold the inference limiter (the question's text embedding, the selection); retrieval and
disk work never do, and the answering model, a separate model, has a limiter of its own, so a question
delays live scoring only by the scorer-model calls it makes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from datetime import datetime

from streamer.buffer import FrameBuffer
from streamer.clips import ClipError, clip_frames

from ..memory.asked import AskedFrames
from ..memory.backend import Memory
from ..scoring import InferenceLimiter
from .answer import Answer, Citation, cite, extractive_text, filters_of
from .answering import QAFrame, VideoQA
from .retrieval import Candidate, FrameSource, buffer_candidates, memory_candidates, merge_candidates
from .selection import Picked, Selected, Selection, TimeSelection
from .timeparse import parse_question

__all__ = ["MAX_QUESTION", "Asker"]

MAX_QUESTION = 1000


class Asker:
    """Answer questions from a memory and (in the running service) the cameras' rolling buffers."""

    def __init__(
        self,
        memory: Memory,
        *,
        buffers: Mapping[str, FrameBuffer] | None = None,
        selection: Selection | None = None,
        answerer: VideoQA | None = None,
        limiter: InferenceLimiter | None = None,
        budget: int = 8,
        per_camera: int = 16,
        pool: int = 64,
        asked: AskedFrames | None = None,
        clip_fps: float = 4.0,
        elsewhere: FrameSource | None = None,
    ) -> None:
        self.memory = memory
        self.buffers: Mapping[str, FrameBuffer] = buffers if buffers is not None else {}
        self.selection = selection or TimeSelection()
        self.answerer = answerer
        self.limiter = limiter or InferenceLimiter()
        self._answering = InferenceLimiter()  # one answer at a time on the answering model
        self.budget = budget
        self.per_camera = per_camera
        self.pool = pool
        self.asked = asked
        self.clip_fps = clip_fps
        self.elsewhere = elsewhere  # a fleet's other nodes: the recent frames of the cameras they hold

    async def ask(
        self, question: str, *, limit: int = 5, now: datetime | None = None, alert: str | None = None
    ) -> Answer:
        """The answer, citing what it used. Raises ValueError on an empty or overlong question, or an unknown alert.

        With ``alert``, the question is about that alert alone: the frames come from its clip at ``clip_fps`` (or
        its remembered keyframe when it has no clip)."""
        question = question.strip()
        if not question or len(question) > MAX_QUESTION:
            raise ValueError(f"'question' must be a non-empty string of at most {MAX_QUESTION} characters")
        if alert is not None:
            return await self._ask_alert(question, alert, limit)
        t0 = time.perf_counter()
        remembered_cameras = await asyncio.to_thread(self.memory.cameras)
        remote_cameras = await self.elsewhere.cameras() if self.elsewhere is not None else []
        cameras = sorted(set(self.buffers) | set(remembered_cameras) | set(remote_cameras))
        asked = parse_question(question, now or datetime.now().astimezone(), cameras)
        semantic = asked.text or question
        t1 = time.perf_counter()
        buffered = buffer_candidates(asked, self.buffers, per_camera=self.per_camera)  # on the loop: buffers are its
        fetching = (
            asyncio.create_task(self.elsewhere.frames(asked, self.per_camera)) if self.elsewhere is not None else None
        )  # meanwhile: the memory's search
        vector = None
        if self.selection.uses_model and self.memory.semantic_search:
            vector = await self.limiter.run(self.selection.text_vector, semantic)
        remembered = await asyncio.to_thread(memory_candidates, asked, self.memory, text_vector=vector, pool=self.pool)
        counts = {"memory": len(remembered), "buffer": len(buffered)}
        if fetching is not None:
            remote = [c for c in await fetching if c.camera not in self.buffers]  # never a camera's frames twice
            counts["elsewhere"] = len(remote)
            buffered += remote
        candidates = merge_candidates(remembered, buffered)
        t2 = time.perf_counter()
        keep = self.budget if self.answerer is not None else limit
        if not candidates:
            picked = Picked([], self.selection.name, graded=False)
        elif self.selection.uses_model:
            picked = await self.limiter.run(self.selection.select, semantic, candidates, keep)
        else:
            picked = self.selection.select(semantic, candidates, keep)
        t3 = time.perf_counter()
        chosen, backend, text = picked.chosen, "extractive", ""
        if self.answerer is not None and chosen:
            chosen, frames = await asyncio.to_thread(_readable, chosen)
            if frames:
                text = await self._answering.run(self.answerer.answer, semantic, frames)
            else:
                text = "No remembered or buffered frame could be read."
            backend = self.answerer.name
        citations = await asyncio.to_thread(self._cite, chosen, picked.graded)
        if backend == "extractive":
            text = extractive_text(asked, chosen, citations, picked.how, bool(buffered))
        t4 = time.perf_counter()
        return self._answer(
            question, text, backend, picked, citations, counts, (t0, t1, t2, t3, t4), filters_of(asked),
        )  # fmt: skip

    async def _ask_alert(self, question: str, alert: str, limit: int) -> Answer:
        t0 = time.perf_counter()
        moment = await asyncio.to_thread(self.memory.get, alert)
        if moment is None:
            raise ValueError(f"no alert {alert!r} is remembered (it may be open still, or removed by retention)")
        t1 = time.perf_counter()
        candidates: list[Candidate] = []
        if moment.clip is not None:
            start = float(moment.clip_info["start"]) if moment.clip_info else moment.start_wall  # type: ignore[arg-type]
            try:
                frames = await asyncio.to_thread(clip_frames, moment.clip, fps=self.clip_fps, start_wall=start)
            except ClipError:
                frames = []  # removed or unreadable: the remembered keyframe stands in
            candidates = [Candidate(moment.camera, f.wall, "clip", 0.0, moment, None, f.image, f.snapshot)
                          for f in frames]  # fmt: skip
        counts = {"clip": len(candidates)}
        if not candidates:
            candidates = [Candidate(moment.camera, moment.start_wall, "memory", moment.peak, moment, moment.thumbnail)]
            counts["memory"] = 1
        t2 = time.perf_counter()
        keep = self.budget if self.answerer is not None else limit
        if self.selection.uses_model:
            picked = await self.limiter.run(self.selection.select, question, candidates, keep)
        else:
            picked = self.selection.select(question, candidates, keep)
        t3 = time.perf_counter()
        chosen, backend, text = sorted(picked.chosen, key=lambda s: s.candidate.wall), "extractive", ""
        if self.answerer is not None and chosen:
            chosen, shown = await asyncio.to_thread(_readable, chosen)
            text = await self._answering.run(self.answerer.answer, question, shown) if shown else ""
            backend = self.answerer.name
        citations = await asyncio.to_thread(self._cite, chosen, picked.graded)
        if backend == "extractive":
            found = ", ".join(f"'{t}'" for t in moment.query_texts.values()) or "a scene change"
            text = (
                f"Alert {moment.id} on {moment.camera}: {found} from {_iso(moment.start_wall)} to "
                f"{_iso(moment.end_wall)}, peak score {moment.peak:.1f}. No answering model is configured, so these "
                f"are the {len(citations)} frame(s) of it chosen by {picked.how} out of {len(candidates)} "
                f"{'from its clip' if counts['clip'] else 'remembered'}."
            )
        t4 = time.perf_counter()
        filters: dict[str, str | None] = {"alert": moment.id, "camera": moment.camera}
        return self._answer(question, text, backend, picked, citations, counts, (t0, t1, t2, t3, t4), filters)

    @staticmethod
    def _answer(
        question: str, text: str, backend: str, picked: Picked, citations: list[Citation], candidates: dict[str, int],
        times: tuple[float, float, float, float, float], filters: dict[str, str | None],
    ) -> Answer:  # fmt: skip
        t0, t1, t2, t3, t4 = times
        return Answer(
            question=question,
            text=text,
            backend=backend,
            selection=picked.how,
            citations=citations,
            candidates=candidates,
            timings_ms={
                "parse": (t1 - t0) * 1e3,
                "retrieve": (t2 - t1) * 1e3,
                "select": (t3 - t2) * 1e3,
                "answer": (t4 - t3) * 1e3,
            },
            filters=filters,
        )

    def _cite(self, chosen: list[Selected], graded: bool) -> list[Citation]:
        citations = [cite(s, graded, self.asked) for s in chosen]
        if self.asked is not None and any(c.source == "buffer" and c.thumbnail for c in citations):
            self.asked.prune()  # once per answer, not per frame
        return citations


def _iso(wall: float) -> str:
    return datetime.fromtimestamp(wall).astimezone().isoformat(timespec="seconds")


def _readable(chosen: list[Selected]) -> tuple[list[Selected], list[QAFrame]]:
    """The chosen frames whose pictures can be read (retention may have removed a thumbnail), as the model sees
    them: larger pictures where there are any. Blocking (disk, JPEG decoding)."""
    shown = [(s, px) for s in chosen if (px := s.candidate.pixels(large=True)) is not None]
    frames = [
        QAFrame(s.candidate.camera, s.candidate.wall, px, s.candidate.source,
                s.candidate.moment.id if s.candidate.moment else None, s.candidate.thumbnail)
        for s, px in shown
    ]  # fmt: skip
    return [s for s, _ in shown], frames
