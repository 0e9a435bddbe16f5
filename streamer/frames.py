"""Value objects that cross stage boundaries: a sampled :class:`Frame` and a :class:`Window` of them."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from PIL import Image

__all__ = ["Frame", "Window", "encode_jpeg"]

RGBImage = NDArray[np.uint8]


@dataclass(frozen=True, eq=False, slots=True)
class Frame:
    """One sampled video frame.

    ``pts`` is the stream's presentation time in seconds from the start of the stream; ``wall`` is the
    wall-clock time (Unix seconds) the frame stands for: the arrival time for a live feed; for a file,
    ``pts`` on a timeline that ends when the file was opened (replayed as fast as possible: recorded
    footage) or starts then (paced at real time: a simulated camera).
    ``image`` is RGB at analysis size (downscaled once, at decode time); ``snapshot`` is a JPEG of the
    frame at snapshot size, kept so an alert can show the best frame. ``first`` marks the first frame of a
    session (the stream opened, reconnected or looped): nothing before it in the buffer shows the same scene.
    """

    camera: str
    seq: int
    pts: float
    wall: float
    image: RGBImage
    snapshot: bytes | None = None
    keyframe: bool = False
    first: bool = False

    @property
    def nbytes(self) -> int:
        """Memory the frame holds, in bytes (pixels plus snapshot)."""
        return int(self.image.nbytes) + (len(self.snapshot) if self.snapshot else 0)


@dataclass(frozen=True, eq=False, slots=True)
class Window:
    """Consecutive frames of one camera handed to a scorer.

    ``frames[:new_from]`` are context frames already scored in an earlier window (the overlap);
    scores for them may be ignored by the consumer.
    """

    camera: str
    frames: tuple[Frame, ...]
    new_from: int = 0
    skipped: int = field(default=0)

    def __post_init__(self) -> None:
        if not self.frames:
            raise ValueError("a window needs at least one frame")
        if not 0 <= self.new_from < len(self.frames):
            raise ValueError(f"new_from={self.new_from} outside a window of {len(self.frames)} frames")

    @property
    def start(self) -> float:
        """Stream time of the first frame, seconds."""
        return self.frames[0].pts

    @property
    def end(self) -> float:
        """Stream time of the last frame, seconds."""
        return self.frames[-1].pts

    @property
    def new_frames(self) -> tuple[Frame, ...]:
        """Frames not scored in an earlier window."""
        return self.frames[self.new_from :]


def encode_jpeg(image: RGBImage | Image.Image, quality: int = 85) -> bytes:
    """Encode an RGB array or PIL image as JPEG bytes."""
    pil = image if isinstance(image, Image.Image) else Image.fromarray(image)
    out = io.BytesIO()
    pil.save(out, format="JPEG", quality=quality)
    return out.getvalue()
