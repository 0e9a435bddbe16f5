"""Choosing which decoded frames to keep: by timestamp, never by frame count."""

from __future__ import annotations

import time

__all__ = ["RateSampler", "SampleRate"]


class SampleRate:
    """A camera's sampling rate, which the analysis side may raise for a few seconds (a burst on motion).

    The decoding thread reads it for every frame; another thread calls :meth:`burst`. Both only read or
    assign single attributes, so no lock is needed.
    """

    __slots__ = ("_until", "burst_fps", "fps")

    def __init__(self, fps: float, burst_fps: float = 0.0) -> None:
        self.fps = fps
        self.burst_fps = burst_fps if fps > 0 and burst_fps > fps else 0.0  # a burst never lowers the rate
        self._until = 0.0

    def burst(self, seconds: float) -> None:
        """Sample at ``burst_fps`` for the next ``seconds`` (monotonic clock); a no-op without a burst rate."""
        if self.burst_fps:
            self._until = time.monotonic() + seconds

    @property
    def bursting(self) -> bool:
        return bool(self.burst_fps) and time.monotonic() < self._until

    def current(self) -> float:
        """Frames per second to keep now."""
        return self.burst_fps if self.bursting else self.fps


class RateSampler:
    """Keep at most ``fps`` frames per second of stream time.

    Selection follows presentation times, so variable frame rates, dropped frames and odd container
    rates do not skew it. A jump forward (a gap in the stream, a reconnect) restarts the grid at the
    next frame instead of emitting a burst. ``fps <= 0`` keeps every frame. Given a :class:`SampleRate`,
    the rate is read from it for every frame, so it follows bursts.
    """

    __slots__ = ("_last", "_next", "_period", "_rate")

    def __init__(self, fps: float | SampleRate) -> None:
        self._rate = fps if isinstance(fps, SampleRate) else None
        base = fps.fps if isinstance(fps, SampleRate) else fps
        self._period = 1.0 / base if base > 0 else 0.0
        self._next: float | None = None
        self._last: float | None = None

    @property
    def period(self) -> float:
        """Seconds between kept frames (0 when every frame is kept)."""
        return self._period

    def reset(self) -> None:
        """Forget the grid (after a seek or reconnect)."""
        self._next = None
        self._last = None

    def keep(self, t: float) -> bool:
        """Return whether the frame at stream time ``t`` (seconds) is kept."""
        if self._rate is not None:
            fps = self._rate.current()
            self._period = 1.0 / fps if fps > 0 else 0.0
            if self._next is not None and self._last is not None and self._period:
                self._next = min(self._next, self._last + self._period)  # a burst starts at once, not next grid
        if self._period == 0.0:
            return True
        # Half a millisecond of slack absorbs rounding in time bases such as 1/90000.
        if self._next is None or t >= self._next - 5e-4:
            if self._next is None or t - self._next >= self._period:
                self._next = t + self._period
            else:
                self._next += self._period
            self._last = t
            return True
        return False
