"""Choosing which decoded frames to keep: by timestamp, never by frame count."""

from __future__ import annotations

__all__ = ["RateSampler"]


class RateSampler:
    """Keep at most ``fps`` frames per second of stream time.

    Selection follows presentation times, so variable frame rates, dropped frames and odd container
    rates do not skew it. A jump forward (a gap in the stream, a reconnect) restarts the grid at the
    next frame instead of emitting a burst. ``fps <= 0`` keeps every frame.
    """

    __slots__ = ("_next", "_period")

    def __init__(self, fps: float) -> None:
        self._period = 1.0 / fps if fps > 0 else 0.0
        self._next: float | None = None

    @property
    def period(self) -> float:
        """Seconds between kept frames (0 when every frame is kept)."""
        return self._period

    def reset(self) -> None:
        """Forget the grid (after a seek or reconnect)."""
        self._next = None

    def keep(self, t: float) -> bool:
        """Return whether the frame at stream time ``t`` (seconds) is kept."""
        if self._period == 0.0:
            return True
        # Half a millisecond of slack absorbs rounding in time bases such as 1/90000.
        if self._next is None or t >= self._next - 5e-4:
            if self._next is None or t - self._next >= self._period:
                self._next = t + self._period
            else:
                self._next += self._period
            return True
        return False
