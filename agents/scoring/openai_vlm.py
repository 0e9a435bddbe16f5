"""A VLM served elsewhere behind an OpenAI-compatible chat-completions API (vLLM, SGLang, llama.cpp, Ollama).

The window goes out with GenS's layout: each frame as a JPEG data URL preceded by its index ``[i]``,
then ``Question: ...`` and the GenS instruction, greedy decoding with a token cap. The answer is read by
the same defensive parser as the local GenS backend, so GenS (or another VLM) can run on GPUs elsewhere
and be shared by many feedwatch instances.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from streamer.frames import Frame, Window

from ..config import OpenAIVLMSettings
from ..models import ChatClient, image_part, text_part
from .base import Grades, Query, ScorerBase, WindowScores
from .gens import GENS_INSTRUCTION
from .gens_output import grades_for_offsets, parse_entries

__all__ = ["OpenAIVLMScorer", "build_messages"]

log = logging.getLogger(__name__)


def build_messages(window: Window, question: str, max_side: int) -> list[dict[str, Any]]:
    """The chat messages for one window and question, in GenS's frame layout."""
    content: list[dict[str, Any]] = []
    for i, frame in enumerate(window.frames):
        content += [text_part(f"[{i}]"), image_part(frame.image, max_side)]
    content.append(text_part(f"Question: {question}\n{GENS_INSTRUCTION}"))
    return [{"role": "user", "content": content}]


class OpenAIVLMScorer(ScorerBase):
    """Score windows with a remote VLM; one chat-completions request per query."""

    name = "openai"
    semantic = True
    windowed = True
    max_frames = 32

    def __init__(self, settings: OpenAIVLMSettings) -> None:
        self.settings = settings
        self.input_size = settings.max_side
        self.client = ChatClient(
            settings.base_url, settings.model, api_key=settings.api_key, timeout_s=settings.timeout_s, role="VLM server"
        )
        self.grader = self

    def score(self, window: Window, queries: list[Query]) -> WindowScores:
        t0 = time.perf_counter()
        scores: dict[str, NDArray[np.float32]] = {q.id: self._grades(window, q.text).scores for q in queries}
        return WindowScores(window, self.name, scores, semantic=True, latency_s=time.perf_counter() - t0)

    def grade(self, images: Sequence[NDArray[np.uint8]], question: str) -> Grades:
        """Grade any frames against ``question``, shown as one sequence."""
        frames = tuple(Frame("ask", k, float(k), float(k), image) for k, image in enumerate(images))
        return self._grades(Window("ask", frames), question)

    def _grades(self, window: Window, question: str) -> Grades:
        text = self.client.complete(
            build_messages(window, question, self.settings.max_side), max_tokens=self.settings.max_new_tokens
        )
        offsets = [float(i) for i in range(len(window.frames))]  # the model answers in frame indices
        return grades_for_offsets(parse_entries(text), offsets)
