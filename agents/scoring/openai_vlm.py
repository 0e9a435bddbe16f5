"""GenS-3B served elsewhere, behind vLLM's OpenAI-compatible chat-completions API.

The request speaks the 3B checkpoint's layout: the window as one video (its frames as JPEGs in one
``data:video/jpeg;base64,...`` URL, the form vLLM reads as a sequence of frames), timed at 1 fps by vLLM's media
IO settings sent with the request (``media_io_kwargs``: vLLM gives the processor that frame rate as the video's
metadata, from which transformers takes the frames' time positions), each frame within the 3B's pixel budget
(aspect kept, sides multiples of 28, so the server's processor leaves its size alone), then the 3B instruction
and ``Question: ...``; greedy, capped. The answer is read by the same defensive parser as the local backend and
mapped back by frame index (second k is frame k).

SGLang is not supported: its Qwen2.5-VL video path decodes a video file, resamples it at 2 fps and resizes every
frame to at least 128x28x28 pixels, so GenS would not see the frames, sizes and timing it was trained on.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from streamer.frames import Frame, Window, encode_jpeg

from ..config import OpenAIVLMSettings
from ..models import ChatClient, ModelFault, text_part
from ..models.qwen_vl import smart_resize
from .base import Grades, Query, ScoreJob, ScorerBase, WindowScores, all_scored
from .gens import FPS, common_size, gens_prompt
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
    # vLLM reads a JPEG-sequence video's frame rate from its media IO settings (the server's --media-io-kwargs,
    # merged with these per request) and hands it to the processor as the video's metadata, which times the
    # frames (second_per_grid_ts); num_frames -1 keeps every frame (its default keeps the first 32).
    timing = {"media_io_kwargs": {"video": {"num_frames": -1, "fps": FPS}}}
    return messages, {**timing, "mm_processor_kwargs": {"do_sample_frames": False}}


class OpenAIVLMScorer(ScorerBase):
    """Score windows with GenS-3B on a remote server: one chat-completions request per window and query, up to
    ``max_in_flight`` of them at once over one pool of keep-alive connections."""

    name = "openai"
    semantic = True
    windowed = True
    max_frames = 32
    input_size = 224

    def __init__(self, settings: OpenAIVLMSettings) -> None:
        self.settings = settings
        self.client = ChatClient(
            settings.base_url, settings.model, api_key=settings.api_key, timeout_s=settings.timeout_s,
            role="VLM server", max_connections=settings.max_in_flight,
        )  # fmt: skip
        self._pool = ThreadPoolExecutor(settings.max_in_flight, thread_name_prefix="vlm-request")
        self.grader = self

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.client.close()

    def score(self, window: Window, queries: list[Query]) -> WindowScores:
        return self.score_batch([(window, queries)])[0]

    def score_batch(self, jobs: Sequence[ScoreJob]) -> list[WindowScores]:
        return all_scored(self.score_jobs(jobs))

    def score_jobs(self, jobs: Sequence[ScoreJob]) -> list[WindowScores | ModelFault]:
        """Every (window, query) of ``jobs`` as its own request, all in flight at once (up to the pool's size); a
        job whose requests all answered gets its scores, else the fault of its first failed request."""
        t0 = time.perf_counter()
        requests = [(j, query) for j, (_, queries) in enumerate(jobs) for query in queries]
        answers = list(self._pool.map(lambda r: self._try_grades(jobs[r[0]][0], r[1].text), requests))
        latency = time.perf_counter() - t0
        out: list[WindowScores | ModelFault] = []
        for j, (window, _) in enumerate(jobs):
            mine = [(q, a) for (k, q), a in zip(requests, answers, strict=True) if k == j]
            fault = next((a for _, a in mine if isinstance(a, ModelFault)), None)
            if fault is not None:
                out.append(fault)
                continue
            scores = {q.id: a.scores for q, a in mine if isinstance(a, Grades)}
            out.append(WindowScores(window, self.name, scores, semantic=True, latency_s=latency))
        return out

    def grade(self, images: Sequence[NDArray[np.uint8]], question: str) -> Grades:
        """Grade any frames against ``question``, shown as one 1 fps video."""
        frames = tuple(Frame("ask", k, float(k), float(k), common_size(images, k)) for k in range(len(images)))
        return self._grades(Window("ask", frames), question)

    def _try_grades(self, window: Window, question: str) -> Grades | ModelFault:
        try:
            return self._grades(window, question)
        except ModelFault as fault:
            return fault

    def _grades(self, window: Window, question: str) -> Grades:
        messages, extra = build_request(window, question, self.settings)
        text = self.client.complete(messages, max_tokens=self.settings.max_new_tokens, extra=extra)
        seconds = [float(k) for k in range(len(window.frames))]  # frame k is second k of the 1 fps video
        return grades_for_offsets(parse_entries(text), seconds)
