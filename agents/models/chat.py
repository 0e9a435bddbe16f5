"""One client for OpenAI-compatible chat-completions servers (vLLM, SGLang, llama.cpp, Ollama).

Both the remote scorer and the remote answering model speak this API: messages of text and images (JPEG
data URLs) in, the assistant's text out, greedy decoding with a token cap. Errors name the server with
its credentials masked.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from streamer.errors import ModelError
from streamer.frames import encode_jpeg
from streamer.redact import redact_text, redact_url

__all__ = ["ChatClient", "image_part", "text_part"]


def text_part(text: str) -> dict[str, Any]:
    """A text part of a chat message."""
    return {"type": "text", "text": text}


def image_part(image: NDArray[np.uint8] | Image.Image, max_side: int) -> dict[str, Any]:
    """An image part of a chat message: a JPEG data URL, at most ``max_side`` pixels on the long side."""
    img = image.copy() if isinstance(image, Image.Image) else Image.fromarray(image)
    img.thumbnail((max_side, max_side))
    url = "data:image/jpeg;base64," + base64.b64encode(encode_jpeg(img)).decode()
    return {"type": "image_url", "image_url": {"url": url}}


class ChatClient:
    """``POST {base_url}/chat/completions``; ``role`` names the server in errors ("VLM server", "qa server")."""

    def __init__(
        self, base_url: str, model: str, *, api_key: str | None = None, timeout_s: float = 60.0, role: str = "server"
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.role = role

    def complete(self, messages: list[dict[str, Any]], *, max_tokens: int, extra: dict[str, Any] | None = None) -> str:
        """The assistant's text for ``messages`` (temperature 0: greedy); ``extra`` joins the request body (for
        server-specific fields such as vLLM's ``mm_processor_kwargs``)."""
        request_body = {"model": self.model, "messages": messages, "temperature": 0, "max_tokens": max_tokens}
        body = json.dumps({**request_body, **(extra or {})}).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        shown = redact_url(self.url)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                payload = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = redact_text(exc.read()[:300].decode(errors="replace"))
            raise ModelError(f"{self.role} {shown} answered {exc.code}: {detail}") from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise ModelError(f"{self.role} {shown} is unreachable: {redact_text(str(exc))}") from exc
        except json.JSONDecodeError as exc:
            raise ModelError(f"{self.role} {shown} did not answer JSON") from exc
        try:
            return str(payload["choices"][0]["message"]["content"] or "")
        except (KeyError, IndexError, TypeError) as exc:
            raise ModelError(f"{self.role} {shown} answered without choices[0].message.content") from exc
