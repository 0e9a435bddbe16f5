from __future__ import annotations

import asyncio
import io
import itertools
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from streamer import CameraReader, CameraStatus, FrameDecoder, SourceError, SourceOptions, probe
from streamer.source import _convert, _scaled_size
from tests.helpers import PERSON_CLIP, SHORT_CLIP, scaled, wait_until


def _decode(url: str, **kw: object) -> list[float]:
    decoder = FrameDecoder("cam", url, SourceOptions(**kw))  # type: ignore[arg-type]
    return [f.pts for f in decoder.frames(threading.Event())]


def test_file_sampled_at_one_fps_with_stream_times(media: Path) -> None:
    decoder = FrameDecoder("cam", str(PERSON_CLIP), SourceOptions(sample_fps=1.0, analysis_size=224, skip_nonref=False))
    frames = list(decoder.frames(threading.Event()))
    assert 139 <= len(frames) <= 140  # 139.4 s at 1 fps
    assert decoder.decoded >= 1390  # every frame was decoded (10 fps), one in ten kept
    pts = [f.pts for f in frames]
    assert pts == sorted(pts)
    assert all(0.9 < b - a < 1.1 for a, b in itertools.pairwise(pts))
    first = frames[0]
    assert max(first.image.shape[:2]) == 224  # downscaled once, at decode time
    assert first.image.dtype.name == "uint8"
    assert first.snapshot is not None and first.snapshot[:2] == b"\xff\xd8"  # a JPEG
    assert frames[10].wall - frames[0].wall == pytest.approx(frames[10].pts - frames[0].pts)


def test_sparse_sampling_skips_non_reference_frames(media: Path) -> None:
    decoder = FrameDecoder("cam", str(PERSON_CLIP), SourceOptions(sample_fps=1.0))
    pts = [f.pts for f in decoder.frames(threading.Event())]
    assert decoder.decoded < 1000  # B-frames were never decoded
    assert 139 <= len(pts) <= 140
    # The sampler takes the next reference frame: at most a few frames late, never a burst.
    assert all(0.7 < b - a < 1.3 for a, b in itertools.pairwise(pts))


@pytest.mark.slow
def test_keyframes_only_decodes_far_fewer_frames(media: Path) -> None:
    full = FrameDecoder("cam", str(PERSON_CLIP), SourceOptions(sample_fps=0))
    n_full = sum(1 for _ in full.frames(threading.Event()))
    keys = FrameDecoder("cam", str(PERSON_CLIP), SourceOptions(sample_fps=0, keyframes_only=True))
    got = list(keys.frames(threading.Event()))
    assert 0 < len(got) < n_full / 5
    assert all(f.keyframe for f in got)


def test_stop_flag_ends_decoding_promptly(media: Path) -> None:
    stop = threading.Event()
    decoder = FrameDecoder("cam", str(PERSON_CLIP), SourceOptions(sample_fps=0))
    seen = 0
    for _ in decoder.frames(stop):
        seen += 1
        if seen == 5:
            stop.set()
    assert seen == 5


@pytest.mark.slow
def test_realtime_pacing_follows_stream_time(media: Path) -> None:
    t0 = time.monotonic()
    pts = _decode(str(SHORT_CLIP), sample_fps=2.0, realtime=True)
    elapsed = time.monotonic() - t0
    assert pts[-1] >= 2.4
    assert elapsed >= pts[-1] - 0.05


@pytest.fixture
def audio_only(tmp_path: Path) -> Path:
    out = tmp_path / "tone.m4a"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=1", str(out)], check=True
    )
    return out


def test_bad_inputs_give_one_clear_error(tmp_path: Path, audio_only: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 100)
    cases = {
        str(tmp_path / "missing.mp4"): "no such file",
        str(text): "not a video",
        str(audio_only): "no video track",
        str(tmp_path): "directory",
        "rtsp://admin:hunter2@127.0.0.1:9/stream": "connection refused",
    }
    for url, words in cases.items():
        with pytest.raises(SourceError, match=words) as info:
            probe(url, SourceOptions(open_timeout_s=2))
        assert "hunter2" not in str(info.value)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never says a word."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    conns: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(srv.getsockname()[1])
    stop.set()
    thread.join()
    for c in conns:
        c.close()
    srv.close()


@pytest.mark.parametrize("scheme", ["rtsp", "http"])
def test_url_that_never_answers_times_out(silent_server: int, scheme: str) -> None:
    url = f"{scheme}://viewer:hunter2@127.0.0.1:{silent_server}/live"
    with pytest.raises(SourceError, match=r"no answer within 1\.5 s") as info:
        probe(url, SourceOptions(open_timeout_s=1.5, read_timeout_s=1.5))
    assert "hunter2" not in str(info.value)


def test_truncated_and_corrupt_files_decode_what_they_can(media: Path, tmp_path: Path) -> None:
    data = SHORT_CLIP.read_bytes()
    truncated = tmp_path / "truncated.mkv"
    truncated.write_bytes(data[: len(data) // 2])
    full = _decode(str(SHORT_CLIP), sample_fps=0)
    part = _decode(str(truncated), sample_fps=0)
    assert 0 < len(part) < len(full)

    corrupt = tmp_path / "corrupt.mkv"
    damaged = bytearray(data)
    for i in range(len(data) // 3, len(data) // 3 + 4000, 7):
        damaged[i] ^= 0x5A
    corrupt.write_bytes(bytes(damaged))
    frames = _decode(str(corrupt), sample_fps=0)
    assert len(frames) > len(full) // 2  # damage costs some frames, not the file


async def test_reader_fails_fast_without_retry(tmp_path: Path) -> None:
    async with CameraReader("cam", str(tmp_path / "nope.mp4"), SourceOptions(), retry=False) as reader:
        with pytest.raises(SourceError, match="no such file"):
            async for _ in reader.frames():
                pass
        assert reader.status is CameraStatus.OFFLINE


@pytest.mark.slow
async def test_reader_retries_until_the_file_appears(tmp_path: Path, media: Path) -> None:
    target = tmp_path / "late.mkv"
    statuses: list[CameraStatus] = []
    async with CameraReader(
        "cam",
        str(target),
        SourceOptions(sample_fps=1.0),
        retry=True,
        on_status=lambda c, s: statuses.append(s),
    ) as reader:
        await wait_until(lambda: reader.stats.reconnects >= 2, 10, "two failed attempts")
        assert reader.status is CameraStatus.OFFLINE
        shutil.copy(SHORT_CLIP, target)
        got = [f.pts async for f in reader.frames()]
    assert len(got) == 3
    assert CameraStatus.LIVE in statuses and statuses[-1] is CameraStatus.ENDED


async def test_looping_file_keeps_times_monotonic(media: Path) -> None:
    async with CameraReader("cam", str(SHORT_CLIP), SourceOptions(sample_fps=2.0, loop=True), retry=True) as reader:
        pts: list[float] = []
        async for frame in reader.frames():
            pts.append(frame.pts)
            if len(pts) == 15:
                break
    assert all(b > a for a, b in itertools.pairwise(pts))
    assert pts[-1] > 6.0  # three loops of a 3 s clip


async def test_each_session_marks_its_first_frame(media: Path) -> None:
    """The change gate never holds the first frame after an open, a reconnect or a loop: the frame says which."""
    async with CameraReader("cam", str(SHORT_CLIP), SourceOptions(sample_fps=2.0, loop=True), retry=True) as reader:
        frames = []
        async for frame in reader.frames():
            frames.append(frame)
            if len(frames) == 15:
                break
    starts = [i for i, f in enumerate(frames) if f.first]
    assert starts[0] == 0 and len(starts) >= 3  # every loop of the 3 s clip, 6 frames each
    assert all(b - a == 6 for a, b in itertools.pairwise(starts))


def test_footage_converted_ahead_matches_inline_conversion(media: Path) -> None:
    """Replayed as fast as possible, frames are scaled and encoded on a helper thread: same frames, same order."""
    ahead = list(FrameDecoder("cam", str(PERSON_CLIP), SourceOptions(sample_fps=2.0)).frames(threading.Event()))
    assert [f.seq for f in ahead] == list(range(len(ahead))) and len(ahead) >= 270
    container = av.open(str(PERSON_CLIP))
    stream = container.streams.video[0]
    wanted = {round(f.pts, 3) for f in ahead[:40]}
    t0, inline = None, {}
    for vf in container.decode(stream):
        t0 = vf.time if t0 is None else t0
        t = round(vf.time - t0, 3)
        if t in wanted:
            size = ahead[0].image.shape[1::-1]
            inline[t] = _convert(vf, size, _scaled_size(vf.width, vf.height, SourceOptions().snapshot_size))[0]
    container.close()
    for frame in ahead[:40]:
        np.testing.assert_array_equal(frame.image, inline[round(frame.pts, 3)])
        assert frame.snapshot is not None and frame.snapshot[:2] == b"\xff\xd8"


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * float(np.log10(255**2 / mse))


@pytest.mark.parametrize(
    ("name", "encode"),
    [
        ("person clip (yuv420p, BT.601)", []),
        ("MJPEG (yuvj420p, full range)", ["-c:v", "mjpeg", "-q:v", "2"]),
        ("BT.709", ["-c:v", "libx264", "-vf", "scale=out_color_matrix=bt709", "-colorspace", "bt709"]),
        ("4:4:4", ["-c:v", "libx264", "-pix_fmt", "yuv444p"]),
    ],
)
def test_frames_shrunk_in_yuv_match_an_area_average_of_the_full_frame(
    tmp_path: Path, name: str, encode: list[str]
) -> None:
    """A frame is shrunk to snapshot size in YUV before its RGB images are made: they must show what an area
    average of the full frame in RGB shows, with the colours its tags say (a wrong matrix gives about 40 dB)."""
    clip = PERSON_CLIP
    if encode:
        clip = tmp_path / ("clip.avi" if "mjpeg" in encode else "clip.mp4")
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(PERSON_CLIP), "-t", "1", *encode, str(clip)], check=True)
    with av.open(str(clip)) as container:
        vf = next(container.decode(video=0))
    size = _scaled_size(vf.width, vf.height, 224)
    snap = _scaled_size(vf.width, vf.height, 640)
    image, jpeg = _convert(vf, size, snap)
    assert jpeg is not None
    direct = vf.reformat(width=size[0], height=size[1], format="rgb24", interpolation="AREA").to_ndarray()
    direct_snap = vf.reformat(width=snap[0], height=snap[1], format="rgb24", interpolation="AREA").to_ndarray()
    assert image.shape == direct.shape
    assert _psnr(image, direct) >= 45, name
    assert _psnr(np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB")), direct_snap) >= 35, name


@pytest.mark.slow
async def test_a_slow_camera_is_not_declared_stalled(tmp_path: Path) -> None:
    slow = tmp_path / "timelapse.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=0.5", "-t", "6",
         "-c:v", "libx264", "-pix_fmt", "yuv420p", str(slow)],
        check=True,
    )  # fmt: skip
    statuses: list[CameraStatus] = []
    options = SourceOptions(sample_fps=1.0, realtime=True, stall_s=0.5)
    async with CameraReader(
        "slow", str(slow), options, retry=False, on_status=lambda c, s: statuses.append(s)
    ) as reader:
        pts = [f.pts async for f in reader.frames()]
        assert reader.stall_limit() >= 4 * 2.0  # four of the stream's 2 s frame intervals
    assert len(pts) == 3
    assert CameraStatus.STALLED not in statuses


async def test_closing_a_reader_always_ends_its_iteration(media: Path) -> None:
    # Whatever the timing of the decoding thread's last words, a consumer still waiting must finish.
    for _ in range(20):
        reader = CameraReader(
            "cam", str(SHORT_CLIP), SourceOptions(sample_fps=2.0, realtime=True, loop=True), retry=True
        )
        async with reader:
            frames = reader.frames()
            await asyncio.wait_for(anext(frames), scaled(10))
            await reader.close()  # the consumer is busy elsewhere (say, on a full buffer) meanwhile
            assert await asyncio.wait_for(anext(frames, None), scaled(5)) is None
