"""Flow policies shared by the stages: what a full queue does, and how long to wait before trying again."""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass

__all__ = ["Backoff", "OverflowPolicy"]


class OverflowPolicy(enum.StrEnum):
    """What a full hand-off queue does: wait (files: lose nothing) or drop the oldest (live: stay current)."""

    BLOCK = "block"
    DROP_OLDEST = "drop_oldest"


@dataclass(slots=True)
class Backoff:
    """Capped exponential backoff with full jitter; :meth:`reset` after the first good frame."""

    base_s: float = 0.5
    cap_s: float = 30.0
    attempt: int = 0

    def next_delay(self) -> float:
        delay = random.uniform(0.0, min(self.cap_s, self.base_s * 2.0**self.attempt))
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0
