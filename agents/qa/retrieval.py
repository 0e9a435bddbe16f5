"""Where answers come from: remembered moments and the rolling buffer's recent frames, merged in time order.

The memory holds what standing queries and scene changes marked as worth keeping; the rolling buffer holds
the last minutes of every camera, most of it never remembered. A question is answered over both: the
memory is searched with the question's filters (and its text, when an embedding model is loaded), the
buffer is sampled evenly over the asked time range, and the two lists are merged by wall-clock time.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from streamer.buffer import FrameBuffer
from streamer.frames import Frame

from ..memory.backend import Memory
from ..memory.records import Moment
from .timeparse import QuestionFilter

__all__ = [
    "Candidate",
    "FrameSource",
    "buffer_candidates",
    "memory_candidates",
    "merge_candidates",
    "question_words",
    "shared_words",
    "spread",
]

_STOP_WORDS = (
    "a an the is are was were be been did do does when where what who which how why at on in of to for and or "
    "with by from it its this that there their they he she any ever last"
)
_STOP = frozenset(_STOP_WORDS.split(" "))
# A buffered frame this close to a remembered keyframe of the same camera is the same picture.
_SAME_FRAME_S = 0.5


@dataclass(frozen=True, slots=True, eq=False)
class Candidate:
    """A frame that may help answer a question.

    ``source`` is ``memory`` (a remembered moment; ``thumbnail`` is its keyframe on disk), ``buffer``
    (a recent frame; ``image`` is its analysis-size pixels and ``snapshot`` its JPEG) or ``clip`` (a frame decoded
    from an alert's clip, with ``moment`` the alert's, pixels as a buffered frame's). ``prior`` is the
    retrieval's own ranking: embedding similarity, or the question words a moment's queries share plus its
    peak score; 0 for buffered frames, which nothing has judged yet.
    """

    camera: str
    wall: float
    source: str
    prior: float = 0.0
    moment: Moment | None = None
    thumbnail: str | None = None
    image: NDArray[np.uint8] | None = None
    snapshot: bytes | None = None

    @property
    def start(self) -> float:
        return self.moment.start_wall if self.moment is not None else self.wall

    @property
    def end(self) -> float:
        return self.moment.end_wall if self.moment is not None else self.wall

    def pixels(self, *, large: bool = False) -> NDArray[np.uint8] | None:
        """RGB pixels: the thumbnail file, or the buffered frame (its snapshot JPEG when ``large``).

        None when a remembered thumbnail is gone or unreadable (retention may have removed it)."""
        if self.source in ("buffer", "clip"):
            if large and self.snapshot is not None:
                with Image.open(io.BytesIO(self.snapshot)) as img:
                    return np.asarray(img.convert("RGB"))
            return self.image
        if not self.thumbnail:
            return None
        try:
            with Image.open(self.thumbnail) as img:
                return np.asarray(img.convert("RGB"))
        except OSError:
            return None


class FrameSource(Protocol):
    """Recent frames of cameras whose buffers are elsewhere: in a fleet, those of the cameras other nodes hold."""

    async def cameras(self) -> list[str]:
        """The cameras it can ask about (for the question's camera phrases); empty when it cannot tell now."""
        ...

    async def frames(self, asked: QuestionFilter, per_camera: int) -> list[Candidate]:
        """Up to ``per_camera`` buffered frames of each asked camera it reaches, as ``buffer`` candidates, within its
        own deadline; what it cannot reach in time it leaves out (never raises for that)."""
        ...


def question_words(text: str) -> set[str]:
    """The words of a question that carry meaning (for matching the texts of standing queries)."""
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOP}


def shared_words(words: set[str], moment: Moment) -> int:
    """How many of ``words`` (from :func:`question_words`) the texts of the moment's standing queries hold."""
    return len(words & question_words(" ".join(moment.query_texts.values())))


def _range(asked: QuestionFilter) -> tuple[float | None, float | None]:
    return (
        asked.since.timestamp() if asked.since else None,
        asked.until.timestamp() if asked.until else None,
    )


def memory_candidates(
    asked: QuestionFilter,
    memory: Memory,
    *,
    text_vector: NDArray[np.float32] | None = None,
    pool: int = 64,
) -> list[Candidate]:
    """Remembered moments inside the question's filters, at most ``pool``, best first.

    With a text embedding and a memory that holds embeddings, the moments whose keyframes are most
    similar to the question; otherwise the moments whose standing queries share the question's words,
    then the highest peaks, then the newest (scanning at most 500 moments)."""
    since, until = _range(asked)
    if text_vector is not None and memory.semantic_search:
        hits = memory.search_similar(text_vector, k=pool, camera=asked.camera, since=since, until=until)
        return [
            Candidate(h.moment.camera, h.keyframe_wall, "memory", h.similarity, h.moment, h.moment.thumbnail)
            for h in hits
        ]
    words = question_words(asked.text)
    moments = memory.search(camera=asked.camera, since=since, until=until, limit=max(pool, 500))
    ranked = sorted(((shared_words(words, m), m) for m in moments), key=lambda t: (t[0], t[1].peak, t[1].start_wall),
                    reverse=True)[:pool]  # fmt: skip
    times = memory.keyframe_times([m.id for _, m in ranked])
    return [
        Candidate(m.camera, times.get(m.id, m.start_wall), "memory", shared + m.peak / 10, m, m.thumbnail)
        for shared, m in ranked
    ]


def buffer_candidates(
    asked: QuestionFilter, buffers: Mapping[str, FrameBuffer], *, per_camera: int = 16
) -> list[Candidate]:
    """Up to ``per_camera`` buffered frames of each asked camera, evenly spread over the asked range.

    Call it on the event loop that owns the buffers (it reads them without a lock); it copies only
    references, so it is quick."""
    since, until = _range(asked)
    out: list[Candidate] = []
    for camera, buf in buffers.items():
        if asked.camera is not None and camera != asked.camera:
            continue
        frames = spread(buf, since, until, per_camera)
        out += [Candidate(camera, f.wall, "buffer", image=f.image, snapshot=f.snapshot) for f in frames]
    return out


def spread(buf: FrameBuffer, since: float | None, until: float | None, n: int) -> list[Frame]:
    """Up to ``n`` of the buffer's frames in ``[since, until]``, evenly spread, oldest first (on the buffer's loop)."""
    frames = buf.window_wall(since if since is not None else float("-inf"), until if until is not None else np.inf)
    if len(frames) > n:
        picks = np.linspace(0, len(frames) - 1, n).round().astype(int)
        frames = [frames[i] for i in sorted(set(picks.tolist()))]
    return frames


def merge_candidates(remembered: list[Candidate], buffered: list[Candidate]) -> list[Candidate]:
    """Both lists in one, ordered by wall-clock time; a buffered frame that is a remembered keyframe is dropped."""
    kept = [
        b
        for b in buffered
        if not any(m.camera == b.camera and abs(m.wall - b.wall) <= _SAME_FRAME_S for m in remembered)
    ]
    return sorted([*remembered, *kept], key=lambda c: (c.wall, c.camera, c.source))
