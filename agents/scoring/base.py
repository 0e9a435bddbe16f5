"""The scorer contract: a window of frames and some queries in, per-frame relevance 1-5 out.

A backend also says what else its models can do, so callers never probe concrete classes: ``embedder``
(text and image embeddings, for memory search and ranking) and ``grader`` (grading any frames against a
question, as GenS does, for picking the frames an answer should see).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from streamer.frames import Window

from ..models.faults import ModelFault

if TYPE_CHECKING:
    from ..config import QueryConfig

__all__ = [
    "MAX_SCORE",
    "MIN_SCORE",
    "FrameGrader",
    "Grades",
    "Query",
    "ScoreJob",
    "Scorer",
    "ScorerBase",
    "TextImageEmbedder",
    "WindowScores",
    "all_scored",
]

MIN_SCORE = 1.0
MAX_SCORE = 5.0


@dataclass(frozen=True, slots=True)
class Query:
    """A standing question. ``cameras`` empty means every camera; ``zones`` empty means the whole frame.

    ``armed`` False: not watched at all. ``active``: times of day it is watched (``"22:00-06:00"``), empty for
    always (see :func:`agents.alerting.arming.in_windows`)."""

    id: str
    text: str
    threshold: float = 3.0
    cameras: tuple[str, ...] = ()
    zones: tuple[str, ...] = ()
    armed: bool = True
    active: tuple[str, ...] = ()
    disarmed: tuple[str, ...] = ()  # cameras it is disarmed on, while armed on the others

    def applies_to(self, camera: str) -> bool:
        return not self.cameras or camera in self.cameras

    def armed_on(self, camera: str) -> bool:
        return self.armed and camera not in self.disarmed

    @classmethod
    def from_config(cls, config: QueryConfig) -> Query:
        """The validated config of a query (from a file, MQTT, HTTP or the persisted changes) as a query."""
        return cls(
            config.id, config.text, config.threshold, tuple(config.cameras), tuple(config.zones), config.armed,
            tuple(config.active), tuple(config.disarmed),
        )  # fmt: skip

    def to_dict(self) -> dict[str, object]:
        """The query as the APIs show it and as it is persisted."""
        return {
            "id": self.id, "text": self.text, "threshold": self.threshold, "cameras": list(self.cameras),
            "zones": list(self.zones), "armed": self.armed, "active": list(self.active),
            "disarmed": list(self.disarmed),
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class WindowScores:
    """Relevance of every frame of a window to each query, on GenS's 1-5 scale.

    ``scores[query_id]`` has one value per frame of ``window.frames``. ``semantic`` is False for
    backends that ignore the query text (the activity scorer): their scores say "something is
    happening", not "this matches the question". ``sent`` flags the frames the model itself scored; the
    others carry earlier scores (the change gate). None: every new frame was scored.
    """

    window: Window
    backend: str
    scores: dict[str, NDArray[np.float32]]
    semantic: bool = True
    latency_s: float = 0.0
    embeddings: NDArray[np.float32] | None = field(default=None)
    sent: NDArray[np.bool_] | None = field(default=None)

    @property
    def model_frames(self) -> int:
        """New frames the model scored (the rest of the new frames were held by the gate)."""
        new = len(self.window.frames) - self.window.new_from
        return new if self.sent is None else int(self.sent[self.window.new_from :].sum())


@dataclass(frozen=True, slots=True)
class Grades:
    """A grader's verdict on some frames: 1-5 each, and whether it named the frame at all."""

    scores: NDArray[np.float32]
    named: NDArray[np.bool_]


class TextImageEmbedder(Protocol):
    """A dual-tower model (CLIP, SigLIP): L2-normalised embeddings of texts and images in one space."""

    dim: int

    def embed_texts(self, texts: list[str]) -> NDArray[np.float32]: ...

    def embed_images(self, images: list[NDArray[np.uint8]]) -> NDArray[np.float32]: ...


class FrameGrader(Protocol):
    """A model that grades frames against a question (GenS), shown to it as one 1 fps sequence."""

    max_frames: int  # frames it reads in one pass

    def grade(self, images: Sequence[NDArray[np.uint8]], question: str) -> Grades: ...


ScoreJob = tuple[Window, list[Query]]


@runtime_checkable
class Scorer(Protocol):
    """What every scoring backend implements. Scoring blocks: the scheduler runs it in a thread.

    ``windowed`` backends read a window as a sequence (GenS); the others score each frame on its own, so
    the scheduler sends them new frames only. ``score_batch`` scores windows of several cameras in one
    call (one pass of the image tower, one batch of prompts) where the backend can; ``score_jobs`` does the same
    and returns, instead of raising, the :class:`ModelFault` of each job that failed.
    """

    name: str
    semantic: bool
    input_size: int  # long side, in pixels, of the frames the backend wants
    windowed: bool
    embedder: TextImageEmbedder | None
    grader: FrameGrader | None

    def score(self, window: Window, queries: list[Query]) -> WindowScores: ...

    def score_batch(self, jobs: Sequence[ScoreJob]) -> list[WindowScores]: ...

    def score_jobs(self, jobs: Sequence[ScoreJob]) -> list[WindowScores | ModelFault]: ...

    def close(self) -> None: ...


class ScorerBase:
    """Defaults for backends: no embedder, no grader, windows scored one after the other."""

    windowed = True
    embedder: TextImageEmbedder | None = None
    grader: FrameGrader | None = None

    def score(self, window: Window, queries: list[Query]) -> WindowScores:
        raise NotImplementedError

    def score_batch(self, jobs: Sequence[ScoreJob]) -> list[WindowScores]:
        return [self.score(window, queries) for window, queries in jobs]

    def score_jobs(self, jobs: Sequence[ScoreJob]) -> list[WindowScores | ModelFault]:
        """One result per job: its scores or the fault that kept it from them. Here all jobs share one call, so
        they share its fault; a backend whose jobs are separate requests (a remote server) says per job."""
        try:
            return list(self.score_batch(jobs))
        except ModelFault as fault:
            return [fault] * len(jobs)

    def close(self) -> None:
        return None


def all_scored(results: Sequence[WindowScores | ModelFault]) -> list[WindowScores]:
    """``score_jobs``'s results as ``score_batch`` returns them: every job's scores, or the first job's fault raised."""
    for result in results:
        if isinstance(result, ModelFault):
            raise result
    return [r for r in results if isinstance(r, WindowScores)]
