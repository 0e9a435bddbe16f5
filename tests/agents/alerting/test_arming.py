"""Active windows: times of day a query is watched, across midnight and in the config's time zone."""

from __future__ import annotations

import datetime as dt

import pytest

from agents.alerting.arming import Watching, in_windows


@pytest.mark.parametrize(
    ("windows", "hhmm", "inside"),
    [
        ([], "03:00", True),
        (["22:00-06:00"], "23:30", True),
        (["22:00-06:00"], "05:59", True),
        (["22:00-06:00"], "06:00", False),
        (["22:00-06:00"], "12:00", False),
        (["08:00-17:30"], "17:29", True),
        (["08:00-17:30"], "17:30", False),
        (["08:00-09:00", "12:00-13:00"], "12:30", True),
        (["00:00-00:00"], "15:00", True),
        (["18:00-24:00"], "23:59", True),
        # The edges: a window includes its start minute and excludes its end minute, across midnight too.
        (["08:00-17:30"], "08:00", True),
        (["08:00-17:30"], "07:59", False),
        (["22:00-06:00"], "22:00", True),
        (["22:00-06:00"], "21:59", False),
        (["22:00-06:00"], "00:00", True),
    ],
)
def test_in_windows(windows: list[str], hhmm: str, inside: bool) -> None:
    hour, minute = map(int, hhmm.split(":"))
    assert in_windows(windows, dt.datetime(2026, 1, 1, hour, minute)) is inside


def test_the_frames_time_is_read_in_the_configured_zone() -> None:
    wall = dt.datetime(2026, 6, 1, 21, 30, tzinfo=dt.UTC).timestamp()  # 23:30 in Berlin (summer), 21:30 in UTC
    assert Watching("Europe/Berlin").watched(True, ["22:00-06:00"], wall)
    assert not Watching("UTC").watched(True, ["22:00-06:00"], wall)
    assert not Watching("Europe/Berlin").watched(False, [], wall)  # disarmed: never
