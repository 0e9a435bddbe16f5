"""Live RTSP against a real server: reconnects, status, monotonic times."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from pathlib import Path

import pytest

from agents.bench.rtsp import make_camera_clip
from streamer import CameraReader, CameraStatus, FrameDecoder, Outage, SourceError, SourceOptions, probe
from tests.helpers import scaled, wait_until
from tests.streamer.rtsp import GstRtspServer, PerlRtspServer

pytestmark = pytest.mark.slow


def _status(reader: CameraReader) -> CameraStatus:
    return reader.status  # read through a call: the status changes behind mypy's back


@pytest.fixture
def camera_clip(tmp_path: Path) -> Path:
    return make_camera_clip(tmp_path / "cam25.mp4", fps=25, gop=25, seconds=10)


async def test_a_camera_is_back_within_seconds_of_its_publisher(camera_clip: Path) -> None:
    # A 25 fps camera whose publisher dies is stalled, then live again after the publisher's return (3 s later),
    # with times that stay monotonic across the reconnect. How soon is measured by `feedwatch bench recovery`, not
    # asserted here: a test on a loaded machine asserts the order of things, never their wall-clock durations.
    rtsp = PerlRtspServer(camera_clip, wait_s=scaled(30))
    rtsp.start()
    statuses: list[tuple[float, CameraStatus]] = []
    outages: list[Outage] = []
    options = SourceOptions(sample_fps=2.0, analysis_size=160)
    reader = CameraReader(
        "porch", rtsp.url, options, retry=True,
        on_status=lambda cam, s: statuses.append((time.monotonic(), s)), on_outage=outages.append,
    )  # fmt: skip
    pts: list[float] = []
    try:
        async with reader:
            frames = reader.frames()

            async def take(n: int) -> None:
                for _ in range(n):
                    pts.append((await anext(frames)).pts)

            await asyncio.wait_for(take(4), scaled(20))
            assert reader.status is CameraStatus.LIVE
            killed_at = time.monotonic()
            rtsp.kill_publisher()
            await wait_until(lambda: _status(reader) is not CameraStatus.LIVE, 10, "the camera to leave live")
            stalled_after = time.monotonic() - killed_at
            await asyncio.sleep(max(0.0, killed_at + 3.0 - time.monotonic()))  # the outage lasts 3 s
            back_at = time.monotonic()
            rtsp.start_publisher(wait=False)
            await wait_until(lambda: _status(reader) is CameraStatus.LIVE, 20, "the camera to be live again")
            live_after = time.monotonic() - back_at
            before = len(pts)
            await asyncio.wait_for(take(4), scaled(10))
            assert reader.transport == "auto"
            # Back for good once frames have flowed for a few seconds: the outage closes with its duration.
            await wait_until(lambda: len(outages) == 2, 15, "the outage to end")
    finally:
        rtsp.stop()
    seen = [s for t, s in statuses if t > killed_at]
    assert seen[0] is CameraStatus.STALLED and CameraStatus.OFFLINE in seen and seen[-1] is CameraStatus.LIVE, seen
    assert reader.stats.reconnects >= 1 and reader.stats.outages == 1
    assert all(b > a for a, b in itertools.pairwise(pts)), pts
    assert pts[before] > pts[before - 1]
    start, end = outages
    assert start.end is None and "stalled" in start.cause
    assert end.start == start.start and end.duration_s is not None
    assert 3.0 - stalled_after - 0.5 <= end.duration_s <= 3.0 + live_after + 0.5


async def test_one_failing_camera_does_not_disturb_another(rtsp: PerlRtspServer, tmp_path: Path) -> None:
    options = SourceOptions(sample_fps=2.0, open_timeout_s=2.0, read_timeout_s=2.0, analysis_size=160)
    good = CameraReader("good", rtsp.url, options, retry=True)
    bad = CameraReader("bad", "rtsp://user:hunter2@127.0.0.1:9/none", options, retry=True)
    async with good, bad:
        frames = good.frames()
        got = [await asyncio.wait_for(anext(frames), scaled(20)) for _ in range(6)]
        assert bad.status is CameraStatus.OFFLINE
        assert bad.stats.reconnects >= 2
        assert bad.last_error is not None and "hunter2" not in bad.last_error
    assert [f.camera for f in got] == ["good"] * 6


def test_rtsp_over_tcp_with_credentials(secured: GstRtspServer) -> None:
    options = SourceOptions(sample_fps=2.0, rtsp_transport="tcp", open_timeout_s=5.0, analysis_size=160)
    decoder = FrameDecoder("door", secured.url("viewer", "correct-horse"), options)
    stop = threading.Event()
    pts = []
    for frame in decoder.frames(stop):
        pts.append(frame.pts)
        if len(pts) == 4:
            stop.set()
    assert pts == sorted(pts) and len(pts) == 4


def test_wrong_password_is_a_clear_error_without_the_password(secured: GstRtspServer) -> None:
    options = SourceOptions(rtsp_transport="tcp", open_timeout_s=5.0)
    with pytest.raises(SourceError, match="authentication failed") as info:
        probe(secured.url("viewer", "wrong-battery"), options)
    assert "wrong-battery" not in str(info.value)
    assert "viewer:***@" in str(info.value)


async def test_udp_that_delivers_nothing_falls_back_to_tcp_and_says_so(secured: GstRtspServer) -> None:
    # The camera is configured for UDP, but the server (like a camera behind NAT or a firewall) only does TCP.
    options = SourceOptions(sample_fps=2.0, rtsp_transport="udp", analysis_size=160)
    reader = CameraReader("door", secured.url("viewer", "correct-horse"), options, retry=True)
    async with reader:
        frames = reader.frames()
        await asyncio.wait_for(anext(frames), scaled(20))
        assert reader.status is CameraStatus.LIVE
        assert reader.transport == "tcp (fallback)"
        assert reader.stats.reconnects >= 1 and reader.last_error is None
