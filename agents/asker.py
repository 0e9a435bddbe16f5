"""Questions asked of the running service: over its memory and its cameras' rolling buffers.

The service's own scorer selects the frames (GenS, the cascade or the embedding model, whichever it
runs; see :mod:`agents.selection`) and the configured answering model answers. Model work shares the
scheduler's inference limiter, so an ask never runs a model at the same time as the scheduler does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from streamer import FrameBuffer

from .memory import MomentMemory
from .qa import Answer, answer_question
from .retrieval import buffer_candidates
from .scoring import Scorer
from .selection import selection_for
from .timeparse import parse_question
from .videoqa import VideoQA

__all__ = ["MAX_QUESTION", "Asker"]

MAX_QUESTION = 1000


class Asker:
    """Answer questions from the memory and the rolling buffers of one running service."""

    def __init__(
        self,
        memory: MomentMemory,
        buffers: Mapping[str, FrameBuffer],
        scorer: Scorer | None,
        answerer: VideoQA | None,
        limiter: asyncio.Semaphore,
        *,
        budget: int = 8,
        per_camera: int = 16,
        frames_dir: Path | None = None,
    ) -> None:
        self.memory = memory
        self.buffers = buffers
        self.selection = selection_for(scorer)
        self.answerer = answerer
        self.limiter = limiter
        self.budget = budget
        self.per_camera = per_camera
        self.frames_dir = frames_dir

    async def ask(self, question: str, *, limit: int = 5) -> Answer:
        """The answer, with citations from both the memory and the buffers. Raises ValueError on a bad question."""
        question = question.strip()
        if not question or len(question) > MAX_QUESTION:
            raise ValueError(f"'question' must be a non-empty string of at most {MAX_QUESTION} characters")
        t0 = time.perf_counter()
        remembered = await asyncio.to_thread(self.memory.cameras)
        asked = parse_question(question, datetime.now().astimezone(), sorted(set(self.buffers) | set(remembered)))
        t1 = time.perf_counter()
        buffered = buffer_candidates(asked, self.buffers, per_camera=self.per_camera)  # on the loop: buffers are its
        timings = {"parse": (t1 - t0) * 1e3, "retrieve": (time.perf_counter() - t1) * 1e3}
        async with self.limiter:
            return await asyncio.to_thread(
                answer_question,
                question,
                self.memory,
                asked=asked,
                buffered=buffered,
                selection=self.selection,
                answerer=self.answerer,
                limit=limit,
                budget=self.budget,
                frames_dir=self.frames_dir,
                timings=timings,
            )
