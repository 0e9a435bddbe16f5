"""Model faults: every way a model backend can fail, as one typed error with a kind.

A model is a dependency like a camera or the broker: a server restarts, a proxy answers HTML, a GPU runs out of
memory. The client boundary (:class:`~agents.models.chat.ChatClient`, the local backends) turns each such failure
into a :class:`ModelFault`, so the service can tell "the model is away, wait for it" from a bug of ours, count
faults by kind and say which one is happening.
"""

from __future__ import annotations

import enum

from streamer.errors import ModelError

__all__ = ["FaultKind", "ModelFault", "fault_of"]


class FaultKind(enum.StrEnum):
    """Why a model call failed."""

    UNAVAILABLE = "unavailable"  # refused, reset, a 5xx, a model that failed to load or to run
    OVERLOADED = "overloaded"  # 429 or 503: busy, try later (Retry-After honoured)
    TIMEOUT = "timeout"  # no answer within the request's deadline
    MALFORMED = "malformed"  # an answer that is not the API's shape (not JSON, not UTF-8, no choices)
    REJECTED = "rejected"  # a 4xx other than 429: the server refuses this request (its configuration, ours)
    OUT_OF_MEMORY = "out_of_memory"  # the device ran out of memory


class ModelFault(ModelError):
    """A model call failed for a reason outside feedwatch. ``retry_after_s``: the server's own word on when to
    try again (429/503), else None."""

    def __init__(self, kind: FaultKind, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after_s = retry_after_s


def fault_of(exc: BaseException, where: str) -> ModelFault:
    """``exc`` raised inside a local model's call (torch, transformers) as a fault: CUDA's out of memory by name,
    anything else as the model being unavailable. ``where`` names the model in the message."""
    if isinstance(exc, ModelFault):
        return exc
    text = str(exc)
    oom = type(exc).__name__ == "OutOfMemoryError" or "out of memory" in text.lower()
    kind = FaultKind.OUT_OF_MEMORY if oom else FaultKind.UNAVAILABLE
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return ModelFault(kind, f"{where}: {first[:300]}")
