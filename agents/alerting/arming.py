"""When a standing query is watched: armed, and inside one of its active time windows.

Windows are ``"HH:MM-HH:MM"`` in the config's time zone; one whose end is before its start runs past midnight
(``"22:00-06:00"`` is 22:00 to 06:00 the next morning), and one that ends where it starts is the whole day. Times
are the frames' own wall clock, so a recording replayed later is judged by when it was filmed.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Sequence

__all__ = ["Watching", "in_windows"]


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def in_windows(windows: Sequence[str], when: dt.datetime) -> bool:
    """Whether the local time ``when`` falls in any of ``windows`` (always, when there are none)."""
    if not windows:
        return True
    now = when.hour * 60 + when.minute
    for window in windows:
        start, end = (_minutes(part) for part in window.split("-"))
        if start == end or ((start <= now < end) if start < end else (now >= start or now < end)):
            return True
    return False


class Watching:
    """Judges armed-and-active for queries at a wall time, in one time zone (the machine's when None)."""

    def __init__(self, timezone: str | None = None) -> None:
        self.tz = zoneinfo.ZoneInfo(timezone) if timezone else None

    def local(self, wall: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(wall, self.tz) if self.tz else dt.datetime.fromtimestamp(wall).astimezone()

    def watched(self, armed: bool, active: Sequence[str], wall: float) -> bool:
        return armed and in_windows(active, self.local(wall))
