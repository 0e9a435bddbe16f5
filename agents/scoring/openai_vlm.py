"""GenS-3B served elsewhere, behind an OpenAI-compatible chat-completions API that takes video (vLLM).

The only GenS a vLLM or SGLang server can serve is the Qwen2.5-VL-based 3B checkpoint, so the request speaks
its layout: the window as one video at 1 fps (frames as JPEGs in one ``data:video/jpeg;base64,...`` URL, the
way vLLM accepts a video of frames, with ``mm_processor_kwargs: {"fps": 1}`` so the server times them as GenS
was trained), each frame within the 3B's pixel budget (aspect kept, sides multiples of 28, so the server's
processor leaves its size alone), then the 3B instruction and ``Question: ...``; greedy, capped. The answer
is read by the same defensive parser as the local backend and mapped back by frame index (second k is frame k).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from streamer.frames import Frame, Window, encode_jpeg

from ..config import OpenAIVLMSettings
from ..models import ChatClient, text_part
from ..models.qwen_vl import smart_resize
from .base import Grades, Query, ScorerBase, WindowScores
from .gens import FPS, gens_prompt
from .gens_output import grades_for_offsets, parse_entries

__all__ = ["OpenAIVLMScorer", "build_request"]

_MIN_PIXELS = 56 * 56  # Qwen2.5-VL's processor floor


def _video_url(frames: Sequence[Frame], max_pixels: int) -> str:
    height, width = frames[0].image.shape[:2]
    target = smart_resize(height, width, 28, _MIN_PIXELS, max_pixels)
    jpegs = []
    for frame in frames:
        image = Image.fromarray(frame.image)
        if image.size != (target[1], target[0]):
            image = image.resize((target[1], target[0]), Image.Resampling.BICUBIC)
        jpegs.append(base64.b64encode(encode_jpeg(image)).decode())
    return "data:video/jpeg;base64," + ",".join(jpegs)


def build_request(
    window: Window, question: str, settings: OpenAIVLMSettings
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The chat messages and the extra request fields for one window and question, in GenS-3B's layout."""
    video = {"type": "video_url", "video_url": {"url": _video_url(window.frames, settings.max_frame_pixels)}}
    messages = [{"role": "user", "content": [video, text_part(gens_prompt(question))]}]
    return messages, {"mm_processor_kwargs": {"fps": FPS, "do_sample_frames": False}}


class OpenAIVLMScorer(ScorerBase):
    """Score windows with GenS-3B on a remote server; one chat-completions request per query."""

    name = "openai"
    semantic = True
    windowed = True
    max_frames = 32
    input_size = 224

    def __init__(self, settings: OpenAIVLMSettings) -> None:
        self.settings = settings
        self.client = ChatClient(
            settings.base_url, settings.model, api_key=settings.api_key, timeout_s=settings.timeout_s, role="VLM server"
        )
        self.grader = self

    def score(self, window: Window, queries: list[Query]) -> WindowScores:
        t0 = time.perf_counter()
        scores: dict[str, NDArray[np.float32]] = {q.id: self._grades(window, q.text).scores for q in queries}
        return WindowScores(window, self.name, scores, semantic=True, latency_s=time.perf_counter() - t0)

    def grade(self, images: Sequence[NDArray[np.uint8]], question: str) -> Grades:
        """Grade any frames against ``question``, shown as one 1 fps video."""
        frames = tuple(Frame("ask", k, float(k), float(k), image) for k, image in enumerate(images))
        return self._grades(Window("ask", frames), question)

    def _grades(self, window: Window, question: str) -> Grades:
        messages, extra = build_request(window, question, self.settings)
        text = self.client.complete(messages, max_tokens=self.settings.max_new_tokens, extra=extra)
        seconds = [float(k) for k in range(len(window.frames))]  # frame k is second k of the 1 fps video
        return grades_for_offsets(parse_entries(text), seconds)
