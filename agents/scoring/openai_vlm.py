"""A VLM served elsewhere behind an OpenAI-compatible chat-completions API (vLLM, SGLang, llama.cpp, Ollama).

The window goes out with GenS's layout: each frame as a JPEG data URL preceded by its index ``[i]``,
then ``Question: ...`` and the GenS instruction, greedy decoding with a token cap. The answer is read by
the same defensive parser as the local GenS backend, so GenS (or another VLM) can run on GPUs elsewhere
and be shared by many feedwatch instances.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import urllib.error
import urllib.request
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from streamer import ModelError, Window, encode_jpeg, redact_text, redact_url

from ..config import OpenAIVLMSettings
from .base import Query, WindowScores
from .gens import GENS_INSTRUCTION
from .gens_output import parse_entries, scores_for_offsets

__all__ = ["OpenAIVLMScorer", "build_messages"]

log = logging.getLogger(__name__)


def build_messages(window: Window, question: str, max_side: int) -> list[dict[str, Any]]:
    """The chat messages for one window and question, in GenS's frame layout."""
    content: list[dict[str, Any]] = []
    for i, frame in enumerate(window.frames):
        img = Image.fromarray(frame.image)
        img.thumbnail((max_side, max_side))
        url = "data:image/jpeg;base64," + base64.b64encode(encode_jpeg(img)).decode()
        content.append({"type": "text", "text": f"[{i}]"})
        content.append({"type": "image_url", "image_url": {"url": url}})
    content.append({"type": "text", "text": f"Question: {question}\n{GENS_INSTRUCTION}"})
    return [{"role": "user", "content": content}]


class OpenAIVLMScorer:
    """Score windows with a remote VLM; one chat-completions request per query."""

    name = "openai"
    semantic = True
    windowed = True

    def __init__(self, settings: OpenAIVLMSettings) -> None:
        self.settings = settings
        self.input_size = settings.max_side
        self.url = settings.base_url.rstrip("/") + "/chat/completions"

    def close(self) -> None:
        pass

    def score(self, window: Window, queries: list[Query]) -> WindowScores:
        t0 = time.perf_counter()
        offsets = [float(i) for i in range(len(window.frames))]  # the model answers in frame indices
        scores: dict[str, NDArray[np.float32]] = {}
        for query in queries:
            text = self.complete(build_messages(window, query.text, self.settings.max_side))
            scores[query.id] = scores_for_offsets(parse_entries(text), offsets)
        return WindowScores(window, self.name, scores, semantic=True, latency_s=time.perf_counter() - t0)

    def complete(self, messages: list[dict[str, Any]]) -> str:
        """One chat completion; the assistant's text. Errors name the (redacted) server."""
        body = json.dumps(
            {
                "model": self.settings.model,
                "messages": messages,
                "temperature": 0,
                "max_tokens": self.settings.max_new_tokens,
            }
        ).encode()
        headers = {"Content-Type": "application/json"}
        if self.settings.api_key:
            headers["Authorization"] = f"Bearer {self.settings.api_key}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        shown = redact_url(self.url)
        try:
            with urllib.request.urlopen(request, timeout=self.settings.timeout_s) as response:
                payload = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = redact_text(exc.read()[:300].decode(errors="replace"))
            raise ModelError(f"VLM server {shown} answered {exc.code}: {detail}") from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise ModelError(f"VLM server {shown} is unreachable: {redact_text(str(exc))}") from exc
        except json.JSONDecodeError as exc:
            raise ModelError(f"VLM server {shown} did not answer JSON") from exc
        try:
            return str(payload["choices"][0]["message"]["content"] or "")
        except (KeyError, IndexError, TypeError) as exc:
            raise ModelError(f"VLM server {shown} answered without choices[0].message.content") from exc
