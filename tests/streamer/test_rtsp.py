"""Live RTSP against a real server: reconnects, status, monotonic times."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamer import Backoff, CameraReader, CameraStatus, FrameDecoder, SourceError, SourceOptions, probe
from tests.helpers import PERSON_CLIP, scaled
from tests.streamer.rtsp import GstRtspServer, PerlRtspServer

pytestmark = pytest.mark.slow


def _status(reader: CameraReader) -> CameraStatus:
    return reader.status  # read through a call: the status changes behind mypy's back


@pytest.fixture
def rtsp(media: Path) -> Iterator[PerlRtspServer]:
    server = PerlRtspServer(PERSON_CLIP)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_reader_survives_the_publisher_dying_and_coming_back(rtsp: PerlRtspServer) -> None:
    statuses: list[tuple[float, CameraStatus]] = []
    options = SourceOptions(sample_fps=2.0, open_timeout_s=3.0, read_timeout_s=2.0, analysis_size=160)
    reader = CameraReader(
        "porch", rtsp.url, options, retry=True, stall_s=1.0, backoff=Backoff(base_s=0.2, cap_s=1.0),
        on_status=lambda cam, s: statuses.append((time.monotonic(), s)),
    )  # fmt: skip
    pts: list[float] = []
    walls: list[float] = []
    async with reader:
        frames = reader.frames()

        async def take(n: int) -> None:
            for _ in range(n):
                frame = await anext(frames)
                pts.append(frame.pts)
                walls.append(frame.wall)

        await asyncio.wait_for(take(4), scaled(20))
        assert reader.status is CameraStatus.LIVE
        killed_at = time.monotonic()
        rtsp.kill_publisher()
        # Without frames the camera is declared stalled, then the read timeout makes it offline.
        deadline = time.monotonic() + scaled(15)
        while _status(reader) is not CameraStatus.OFFLINE and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert _status(reader) is CameraStatus.OFFLINE
        rtsp.start_publisher()
        before = len(pts)
        await asyncio.wait_for(take(6), scaled(30))
        assert reader.status is CameraStatus.LIVE
    seen = [s for t, s in statuses if t > killed_at]
    assert CameraStatus.STALLED in seen and CameraStatus.OFFLINE in seen and seen[-1] is CameraStatus.LIVE
    assert seen.index(CameraStatus.STALLED) < seen.index(CameraStatus.OFFLINE)
    assert reader.stats.reconnects >= 1
    assert all(b > a for a, b in itertools.pairwise(pts)), pts
    assert all(b >= a for a, b in itertools.pairwise(walls))
    assert pts[before] > pts[before - 1]


async def test_one_failing_camera_does_not_disturb_another(rtsp: PerlRtspServer, tmp_path: Path) -> None:
    options = SourceOptions(sample_fps=2.0, open_timeout_s=2.0, read_timeout_s=2.0, analysis_size=160)
    good = CameraReader("good", rtsp.url, options, retry=True)
    bad = CameraReader(
        "bad", "rtsp://user:hunter2@127.0.0.1:9/none", options, retry=True, backoff=Backoff(base_s=0.1, cap_s=0.3)
    )
    async with good, bad:
        frames = good.frames()
        got = [await asyncio.wait_for(anext(frames), scaled(20)) for _ in range(6)]
        assert bad.status is CameraStatus.OFFLINE
        assert bad.stats.reconnects >= 2
        assert bad.last_error is not None and "hunter2" not in bad.last_error
    assert [f.camera for f in got] == ["good"] * 6


@pytest.fixture
def secured(media: Path) -> Iterator[GstRtspServer]:
    server = GstRtspServer(PERSON_CLIP, user="viewer", password="correct-horse")
    server.start()
    try:
        yield server
    finally:
        server.stop()


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
