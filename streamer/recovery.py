"""How a lost camera comes back: the plan for each reconnect attempt, learned from how the last ones went.

A camera that was live a moment ago is most likely back in a moment: the first attempt goes at once, the next
ones within a second (with jitter), and that pace holds for ``fast_for_s`` after it was last live; only then do
the waits grow to ``cap_s``. Opens are short while retrying (the camera answered quickly before) and grow only
when an attempt timed out. An RTSP session that opened over UDP but delivered nothing (a firewall, NAT) makes
the next attempt use TCP; transports alternate while the camera stays away, and the one that worked is kept.
A camera that never delivered a frame yet and whose session opened but timed out before the first one may be a
slow camera whose stream does not say its pace: its read timeout doubles (up to the cap). Once frames flow, the
pace is measured and the read timeout is the stall limit again, so a later stall is caught in seconds.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from typing import Literal

__all__ = ["Attempt", "Outcome", "ReconnectPlan", "session_read_timeout"]

Transport = Literal["tcp", "udp"] | None


class Outcome(enum.Enum):
    """How an attempt ended."""

    OPEN_TIMEOUT = "open_timeout"  # no answer within the open timeout
    OPEN_FAILED = "open_failed"  # the server answered no (refused, not found, unsupported transport, ...)
    NO_FRAME = "no_frame"  # opened, then nothing decoded within the read timeout
    LOST = "lost"  # delivered frames, then stopped


@dataclass(frozen=True, slots=True)
class Attempt:
    """What the next attempt uses: when, with which open timeout, read timeout floor and RTSP transport."""

    delay_s: float
    open_timeout_s: float
    min_read_timeout_s: float
    transport: Transport
    fallback: bool  # the transport is not the configured one

    @property
    def transport_name(self) -> str:
        name = self.transport or "auto"
        return f"{name} (fallback)" if self.fallback else name


def session_read_timeout(stall_s: float, interval_s: float | None, cap_s: float, floor_s: float = 0.0) -> float:
    """How long one read may wait: the stall limit (``stall_s`` or four frame intervals, whichever is longer),
    at least ``floor_s``, at most ``cap_s``."""
    limit = max(stall_s, 4.0 * interval_s if interval_s else 0.0, floor_s)
    return min(limit, cap_s)


class ReconnectPlan:
    """Decide each reconnect attempt of one camera. Not thread-safe: the reader's thread owns it."""

    def __init__(
        self,
        *,
        rtsp: bool,
        transport: Transport,
        open_timeout_s: float,
        stall_s: float,
        read_cap_s: float,
        retry_open_s: float = 3.0,
        base_s: float = 0.25,
        fast_cap_s: float = 1.0,
        fast_for_s: float = 60.0,
        cap_s: float = 30.0,
        rng: random.Random | None = None,
    ) -> None:
        self.open_timeout_s = open_timeout_s
        self.retry_open_s = min(retry_open_s, open_timeout_s)
        self.stall_s = stall_s
        self.read_cap_s = read_cap_s
        self.base_s, self.fast_cap_s, self.fast_for_s, self.cap_s = base_s, fast_cap_s, fast_for_s, cap_s
        self.configured = transport
        # Transports to alternate between while the camera stays away; the configured one first. Only UDP (or
        # FFmpeg's choice, which starts with UDP) falls back to TCP.
        self.transports: list[Transport] = [transport, "tcp"] if rtsp and transport != "tcp" else [transport]
        self._rng = rng or random.Random()
        self._transport_index = 0
        self._failures = 0  # consecutive failed attempts since the camera was last live (or since start)
        self._open_timeouts = 0  # consecutive attempts that timed out opening
        self._read_floor = 0.0  # grown by sessions that opened and then timed out before a first frame
        self._last_live: float | None = None  # monotonic time the camera last delivered frames
        self._ever_live = False
        self.interval_s: float | None = None  # the stream's frame interval, learned from live sessions

    def next(self, now: float) -> Attempt:
        """The next attempt (call once per attempt, then :meth:`failed` or :meth:`live`)."""
        transport = self.transports[self._transport_index % len(self.transports)]
        if not self._ever_live and self._failures == 0:
            open_timeout = self.open_timeout_s  # the first connection: the camera may be far away
        else:
            open_timeout = min(self.open_timeout_s, self.retry_open_s * 2.0**self._open_timeouts)
        return Attempt(self._delay(now), open_timeout, self._read_floor, transport, transport != self.configured)

    def _delay(self, now: float) -> float:
        if self._failures == 0:
            return 0.0  # the first attempt (and the first after a loss) goes at once
        recent = self._last_live is not None and now - self._last_live < self.fast_for_s
        cap = self.fast_cap_s if recent else self.cap_s
        ceiling = min(cap, self.base_s * 2.0 ** (self._failures - 1))
        return ceiling * self._rng.uniform(0.5, 1.0)  # equal jitter: never zero, so a failing source cannot spin

    def failed(self, outcome: Outcome, now: float) -> None:
        """The attempt ended with ``outcome`` (LOST: it had delivered frames)."""
        if outcome is Outcome.LOST:
            self._failures = 0
            self._open_timeouts = 0
            self._last_live = now
            return
        self._failures += 1
        self._open_timeouts = self._open_timeouts + 1 if outcome is Outcome.OPEN_TIMEOUT else 0
        if outcome is Outcome.NO_FRAME and not self._ever_live:
            self._read_floor = min(self.read_cap_s, max(self._read_floor, self.stall_s) * 2.0)
        if len(self.transports) > 1:
            self._transport_index += 1  # the other transport next time

    def live(self, now: float, interval_s: float | None) -> None:
        """The attempt delivered its first frame: keep its transport, remember the stream's pace."""
        self._ever_live = True
        self._last_live = now
        self._failures = 0
        self._open_timeouts = 0
        self._read_floor = 0.0
        if interval_s:
            self.interval_s = interval_s

    def frame(self, now: float) -> None:
        """A frame arrived (keeps the fast-retry window open)."""
        self._last_live = now
