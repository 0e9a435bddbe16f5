"""The scorer contract: a window of frames and some queries in, per-frame relevance 1-5 out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from streamer import Window

__all__ = ["MAX_SCORE", "MIN_SCORE", "Query", "Scorer", "WindowScores"]

MIN_SCORE = 1.0
MAX_SCORE = 5.0


@dataclass(frozen=True, slots=True)
class Query:
    """A standing question. ``cameras`` empty means every camera."""

    id: str
    text: str
    threshold: float = 3.0
    cameras: tuple[str, ...] = ()

    def applies_to(self, camera: str) -> bool:
        return not self.cameras or camera in self.cameras


@dataclass(frozen=True, slots=True)
class WindowScores:
    """Relevance of every frame of a window to each query, on GenS's 1-5 scale.

    ``scores[query_id]`` has one value per frame of ``window.frames``. ``semantic`` is False for
    backends that ignore the query text (the activity scorer): their scores say "something is
    happening", not "this matches the question".
    """

    window: Window
    backend: str
    scores: dict[str, NDArray[np.float32]]
    semantic: bool = True
    latency_s: float = 0.0
    embeddings: NDArray[np.float32] | None = field(default=None)


@runtime_checkable
class Scorer(Protocol):
    """What every scoring backend implements. ``score`` blocks: the scheduler runs it in a thread."""

    name: str
    semantic: bool
    input_size: int  # long side, in pixels, of the frames the backend wants

    def score(self, window: Window, queries: list[Query]) -> WindowScores: ...

    def close(self) -> None: ...
