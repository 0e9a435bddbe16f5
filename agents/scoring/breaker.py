"""The circuit breaker in front of a scoring model: when to call it, when to leave it alone, when to try again.

A pure policy fed outcomes and the time, like :mod:`streamer.recovery`; the calls and the waiting live in
:mod:`.guard`. Closed, every call goes through. ``open_after`` faults in a row open it: no call goes through until
a probe is due, after a capped, fully jittered backoff (or the server's own ``Retry-After``, if longer and still
under the cap). The next call is then the probe (half open): a success closes the breaker, a fault opens it again
with a longer wait. The cap bounds how late a recovered model is noticed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from streamer.policies import Backoff

from ..models import ModelFault

__all__ = ["Breaker", "BreakerState"]


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(slots=True)
class Breaker:
    """One model's breaker. ``since``: when (on the caller's clock) the current outage began, None while closed."""

    open_after: int = 1
    probe_base_s: float = 0.5
    probe_cap_s: float = 4.0
    state: BreakerState = BreakerState.CLOSED
    since: float | None = None
    last_fault: ModelFault | None = None
    faults_in_a_row: int = 0
    next_probe: float = 0.0
    _backoff: Backoff | None = None

    def allow(self, now: float) -> bool:
        """Whether a call may go out now; the first call after the wait is the probe."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN and now >= self.next_probe:
            self.state = BreakerState.HALF_OPEN
            return True
        return False

    def succeeded(self) -> bool:
        """A call went well. True when this ends an outage."""
        recovered = self.state is not BreakerState.CLOSED
        self.state, self.since, self.last_fault, self.faults_in_a_row = BreakerState.CLOSED, None, None, 0
        if self._backoff is not None:
            self._backoff.reset()
        return recovered

    def failed(self, fault: ModelFault, now: float) -> bool:
        """A call failed with ``fault``. True when this opens the breaker (an outage begins)."""
        self.faults_in_a_row += 1
        self.last_fault = fault
        if self.state is BreakerState.CLOSED and self.faults_in_a_row < self.open_after:
            return False
        began = self.since is None
        if began:
            self.since = now
        backoff = self._backoff = self._backoff or Backoff(base_s=self.probe_base_s, cap_s=self.probe_cap_s)
        wait = backoff.next_delay()
        if fault.retry_after_s is not None:
            wait = min(max(wait, fault.retry_after_s), self.probe_cap_s)
        self.state = BreakerState.OPEN
        self.next_probe = now + wait
        return began
