"""How a lost camera comes back: the reconnect plan, the read timeouts and the status log, without a network."""

from __future__ import annotations

import logging
import random

import pytest

from streamer.reader import CameraStatus, _StatusLog
from streamer.recovery import Outcome, ReconnectPlan, session_read_timeout


def _plan(**kw: object) -> ReconnectPlan:
    args: dict[str, object] = {"rtsp": True, "transport": None, "open_timeout_s": 10.0, "stall_s": 2.0,
                               "read_cap_s": 30.0, "rng": random.Random(7)}  # fmt: skip
    args.update(kw)
    return ReconnectPlan(**args)  # type: ignore[arg-type]


def test_a_lost_camera_is_retried_at_once_then_within_a_second_while_it_was_live_recently() -> None:
    plan = _plan()
    first = plan.next(0.0)
    assert first.delay_s == 0.0 and first.open_timeout_s == 10.0  # the first connection may be far away
    plan.live(0.0, 0.04)
    plan.failed(Outcome.LOST, 100.0)
    assert plan.next(100.0).delay_s == 0.0  # the first attempt after a loss goes at once
    delays = []
    for i in range(12):
        plan.failed(Outcome.OPEN_FAILED, 100.0 + i)
        delays.append(plan.next(100.0 + i).delay_s)
    assert all(0.0 < d <= 1.0 for d in delays), delays  # fast while the camera was live in the last minute
    assert delays[0] <= 0.25  # and the first retries sub-second
    # A minute after it was last live, the waits grow to the cap (with jitter, never below half of it).
    for _ in range(20):
        plan.failed(Outcome.OPEN_FAILED, 200.0)
    late = [plan.next(200.0).delay_s for _ in range(50)]
    assert all(15.0 <= d <= 30.0 for d in late) and len(set(late)) > 1


def test_retries_open_with_a_short_timeout_that_grows_only_when_opens_time_out() -> None:
    plan = _plan(transport="tcp")
    plan.failed(Outcome.OPEN_FAILED, 0.0)
    assert plan.next(0.0).open_timeout_s == 3.0
    plan.failed(Outcome.OPEN_TIMEOUT, 0.0)
    assert plan.next(0.0).open_timeout_s == 6.0
    plan.failed(Outcome.OPEN_TIMEOUT, 0.0)
    assert plan.next(0.0).open_timeout_s == 10.0  # never past the configured open timeout
    plan.failed(Outcome.OPEN_FAILED, 0.0)  # it answered (with a no): quick opens again
    assert plan.next(0.0).open_timeout_s == 3.0


@pytest.mark.parametrize(
    ("transport", "rtsp", "expected"),
    [
        (None, True, [("auto", False), ("tcp", True), ("auto", False)]),
        ("udp", True, [("udp", False), ("tcp", True), ("udp", False)]),
        ("tcp", True, [("tcp", False), ("tcp", False), ("tcp", False)]),
        (None, False, [("auto", False), ("auto", False), ("auto", False)]),
    ],
)
def test_rtsp_falls_back_to_tcp_after_a_failed_attempt(
    transport: str | None, rtsp: bool, expected: list[tuple[str, bool]]
) -> None:
    plan = _plan(transport=transport, rtsp=rtsp)
    seen = []
    for _ in expected:
        attempt = plan.next(0.0)
        seen.append((attempt.transport or "auto", attempt.fallback))
        plan.failed(Outcome.NO_FRAME, 0.0)
    assert seen == expected
    assert _plan(transport="udp").next(0.0).transport_name == "udp"


def test_the_transport_that_worked_is_kept() -> None:
    plan = _plan(transport="udp")
    plan.failed(Outcome.NO_FRAME, 0.0)  # UDP delivered nothing (a firewall)
    attempt = plan.next(0.0)
    assert attempt.transport_name == "tcp (fallback)"
    plan.live(1.0, 0.04)
    plan.failed(Outcome.LOST, 50.0)
    assert plan.next(50.0).transport_name == "tcp (fallback)"


def test_a_camera_that_never_delivered_gets_longer_reads_until_its_first_frame() -> None:
    plan = _plan()
    floors = []
    for _ in range(6):
        plan.failed(Outcome.NO_FRAME, 0.0)
        floors.append(plan.next(0.0).min_read_timeout_s)
    assert floors == [4.0, 8.0, 16.0, 30.0, 30.0, 30.0]  # doubling from the stall limit, capped
    plan.live(1.0, 10.0)
    assert plan.next(1.0).min_read_timeout_s == 0.0 and plan.interval_s == 10.0
    plan.failed(Outcome.NO_FRAME, 2.0)  # once it has been live, a quiet session is a stall, not a slow camera
    assert plan.next(2.0).min_read_timeout_s == 0.0


def test_session_read_timeout_is_the_stall_limit() -> None:
    assert session_read_timeout(2.0, 1 / 25, 30.0) == 2.0  # a 25 fps camera: 2 s
    assert session_read_timeout(2.0, 2.0, 30.0) == 8.0  # a camera with a frame every 2 s: four intervals
    assert session_read_timeout(2.0, 60.0, 30.0) == 30.0  # capped
    assert session_read_timeout(2.0, None, 30.0, floor_s=16.0) == 16.0


def test_a_flapping_camera_does_not_flood_the_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="streamer.reader")
    status_log = _StatusLog("porch", burst=8, window_s=30.0, every_s=30.0)
    now = 0.0
    for i in range(120):  # up 1 s, down 1 s, for two minutes
        status_log.change(CameraStatus.LIVE if i % 2 else CameraStatus.OFFLINE, now)
        now += 1.0
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) <= 8 + 4 + 1, lines  # a burst, then one summary every 30 s
    assert any("is flapping" in line for line in lines)
    caplog.clear()
    status_log.change(CameraStatus.LIVE, now + 60.0)  # quiet for a minute: every change is logged again
    assert [r.getMessage() for r in caplog.records] == ["camera porch is live"]
