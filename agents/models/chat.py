"""One client for OpenAI-compatible chat-completions servers (vLLM, SGLang, llama.cpp, Ollama).

Both the remote scorer and the remote answering model speak this API: messages of text and images (JPEG
data URLs) in, the assistant's text out, greedy decoding with a token cap. Errors name the server with
its credentials masked; every failure is a :class:`~agents.models.faults.ModelFault` of one kind.

It speaks HTTP through httpx rather than the ``openai`` package: the requests carry vLLM's own fields, retries
and the circuit breaker are feedwatch's (the ``openai`` client would retry on its own, under them), and httpx's
typed errors (timeout, connect, protocol, status) map directly onto the faults.
"""

from __future__ import annotations

import base64
import dataclasses
import email.utils
import json
import logging
import time
from typing import Any

import httpx
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from streamer.frames import encode_jpeg
from streamer.policies import Backoff
from streamer.redact import redact_text, redact_url

from .faults import FaultKind, ModelFault

__all__ = ["ChatClient", "image_part", "text_part"]

log = logging.getLogger(__name__)


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
    """``POST {base_url}/chat/completions`` over one pool of keep-alive connections (``max_connections``), safe to
    call from many threads at once; ``role`` names the server in errors ("VLM server", "qa server").

    Every failure is a :class:`ModelFault`. A refused connection, a 5xx, a 429 or a 503 is retried up to
    ``retries`` times with capped, fully jittered backoff (a ``Retry-After`` of the server's is honoured), all
    within ``timeout_s`` for the whole call; a timeout, a 4xx or a malformed answer is not retried.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        role: str = "server",
        max_connections: int = 16,
        retries: int = 2,
        backoff: Backoff | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.timeout_s = timeout_s
        self.role = role
        self.retries = retries
        self._backoff = backoff or Backoff(base_s=0.25, cap_s=2.0)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._http = httpx.Client(headers=headers, limits=limits, timeout=timeout_s, trust_env=False)
        self._shown = redact_url(self.url)

    def close(self) -> None:
        self._http.close()

    def complete(self, messages: list[dict[str, Any]], *, max_tokens: int, extra: dict[str, Any] | None = None) -> str:
        """The assistant's text for ``messages`` (temperature 0: greedy); ``extra`` joins the request body (for
        server-specific fields such as vLLM's ``mm_processor_kwargs``)."""
        body = {"model": self.model, "messages": messages, "temperature": 0, "max_tokens": max_tokens, **(extra or {})}
        deadline = time.monotonic() + self.timeout_s
        backoff = dataclasses.replace(self._backoff, attempt=0)
        attempt = 0
        while True:
            try:
                return self._once(body, deadline)
            except ModelFault as fault:
                wait = fault.retry_after_s if fault.retry_after_s is not None else backoff.next_delay()
                retryable = fault.kind in (FaultKind.UNAVAILABLE, FaultKind.OVERLOADED)
                if not retryable or attempt >= self.retries or time.monotonic() + wait >= deadline:
                    raise
                attempt += 1
                log.debug("%s: %s; retry %d in %.2f s", self.role, fault, attempt, wait)
                time.sleep(wait)

    def _once(self, body: dict[str, Any], deadline: float) -> str:
        left = max(0.001, deadline - time.monotonic())
        try:
            response = self._http.post(self.url, json=body, timeout=left)
        except httpx.TimeoutException as exc:
            raise ModelFault(FaultKind.TIMEOUT, f"{self.role} {self._shown} did not answer within "
                             f"{self.timeout_s:g} s") from exc  # fmt: skip
        except httpx.HTTPError as exc:  # refused, reset, DNS, a broken response: the server is not there for us
            raise ModelFault(
                FaultKind.UNAVAILABLE,
                f"{self.role} {self._shown} is unreachable: {redact_text(str(exc)) or type(exc).__name__}",
            ) from exc
        status = response.status_code
        if status >= 400:
            detail = redact_text(response.content[:200].decode("utf-8", errors="replace").strip())
            kind = (
                FaultKind.OVERLOADED if status in (429, 503)
                else FaultKind.UNAVAILABLE if status >= 500
                else FaultKind.REJECTED
            )  # fmt: skip
            retry_after = _retry_after(response.headers.get("Retry-After")) if kind is FaultKind.OVERLOADED else None
            raise ModelFault(kind, f"{self.role} {self._shown} answered {status}: {detail}", retry_after_s=retry_after)
        try:
            payload = json.loads(response.content.decode("utf-8"))
            return str(payload["choices"][0]["message"]["content"] or "")
        except (UnicodeDecodeError, ValueError) as exc:
            raise ModelFault(FaultKind.MALFORMED, f"{self.role} {self._shown} did not answer JSON") from exc
        except (KeyError, IndexError, TypeError) as exc:
            raise ModelFault(
                FaultKind.MALFORMED, f"{self.role} {self._shown} answered without choices[0].message.content"
            ) from exc


def _retry_after(value: str | None) -> float | None:
    """A ``Retry-After`` header in seconds (it may be a number of seconds or an HTTP date), None if absent or bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
