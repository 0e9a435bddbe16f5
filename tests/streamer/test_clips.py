"""Packets kept and remuxed: the ring's bounds, clips that start on a keyframe at zero, gaps, and crash safety."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

from streamer import FrameDecoder, SourceOptions
from streamer.clips import ClipError, clip_frames, cut_file, write_clip
from streamer.packets import PacketRing, StoredPacket
from tests.helpers import PERSON_CLIP, ROOT, scaled

WALL0 = 1_700_000_000.0


def _fill(ring: PacketRing, source: Path, *, wall0: float, seconds: float) -> None:
    """Feed ``ring`` the first ``seconds`` of ``source`` as one session, walls from ``wall0`` (as the reader does)."""
    with av.open(str(source)) as container:
        video = container.streams.video[0]
        ring.start(video, None)
        tb = float(video.time_base or 0)
        for packet in container.demux(video):
            if packet.size == 0 or packet.pts is None:
                continue
            t = packet.pts * tb
            if t > seconds:
                break
            ring.add(StoredPacket(wall0 + t, packet.pts, packet.dts, packet.duration or 0, packet.is_keyframe,
                                  False, bytes(packet)))  # fmt: skip


def _frames(path: Path) -> list[av.VideoFrame]:
    with av.open(str(path)) as container:
        return list(container.decode(container.streams.video[0]))


def test_ring_keeps_whole_gops_within_its_time_and_byte_bounds() -> None:
    ring = PacketRing("lobby", max_seconds=10.0, max_bytes=64 << 20)
    _fill(ring, PERSON_CLIP, wall0=WALL0, seconds=40.0)
    assert ring.oldest is not None and ring.newest is not None
    assert 9.0 <= ring.newest - ring.oldest <= 11.5, (ring.oldest - WALL0, ring.newest - WALL0)
    assert ring.stats.evicted > 0
    gops = ring.cut(ring.oldest, ring.newest)
    assert all(g.packets[0].keyframe and not g.packets[0].audio for g in gops)
    assert sum(len(p.data) for g in gops for p in g.packets) == ring.nbytes
    small = PacketRing("lobby", max_seconds=60.0, max_bytes=200_000)
    _fill(small, PERSON_CLIP, wall0=WALL0, seconds=40.0)
    assert small.nbytes <= 200_000 + max(g.nbytes for g in small.cut(WALL0, WALL0 + 60))
    assert small.newest is not None and small.oldest is not None and small.newest - small.oldest < 30


def test_clip_starts_on_a_keyframe_at_zero_and_covers_the_range(tmp_path: Path) -> None:
    ring = PacketRing("lobby", max_seconds=60.0, max_bytes=64 << 20)
    _fill(ring, PERSON_CLIP, wall0=WALL0, seconds=40.0)
    started = time.perf_counter()
    info = write_clip(ring.cut(WALL0 + 12.5, WALL0 + 32.5), tmp_path / "a.mp4")
    took = time.perf_counter() - started
    frames = _frames(tmp_path / "a.mp4")
    assert frames[0].key_frame and frames[0].time == 0.0
    assert WALL0 + 11.0 <= info.start <= WALL0 + 12.5  # the keyframe at or before the start (1 s GOP)
    assert info.end >= WALL0 + 32.5
    assert abs(len(frames) / 10.0 - info.duration_s) < 0.2  # 10 fps, every frame there
    assert (info.width, info.height, info.codec, info.fps) == (768, 432, "h264", 10.0)
    assert info.gaps == [] and info.browser_playable
    assert oct(os.stat(tmp_path / "a.mp4").st_mode & 0o777) == "0o644"
    assert not list(tmp_path.glob(".*"))  # no temporary left behind
    print(f"20 s clip written in {took * 1000:.1f} ms")


def test_a_reconnect_inside_a_clip_is_a_gap_it_reports(tmp_path: Path) -> None:
    ring = PacketRing("lobby", max_seconds=120.0, max_bytes=64 << 20)
    _fill(ring, PERSON_CLIP, wall0=WALL0, seconds=10.0)
    _fill(ring, PERSON_CLIP, wall0=WALL0 + 14.0, seconds=10.0)  # back 4 s after the first session ended
    info = write_clip(ring.cut(WALL0 + 2.0, WALL0 + 22.0), tmp_path / "gap.mp4")
    assert len(info.gaps) == 1
    away_from, away_to = info.gaps[0]
    assert WALL0 + 9.5 <= away_from <= WALL0 + 10.5 and away_to == pytest.approx(WALL0 + 14.0)
    frames = _frames(tmp_path / "gap.mp4")
    times = [f.time for f in frames]
    assert times == sorted(times)
    jump = max(b - a for a, b in itertools.pairwise(times))
    assert 3.0 <= jump <= 5.0  # the gap is kept in the timeline, not closed up


def test_an_empty_range_or_unwritable_folder_is_a_clip_error_with_no_file(tmp_path: Path) -> None:
    ring = PacketRing("lobby", max_seconds=60.0, max_bytes=64 << 20)
    with pytest.raises(ClipError, match="no packets"):
        write_clip(ring.cut(WALL0, WALL0 + 10), tmp_path / "none.mp4")
    _fill(ring, PERSON_CLIP, wall0=WALL0, seconds=5.0)
    with pytest.raises((ClipError, OSError)):
        write_clip(ring.cut(WALL0, WALL0 + 5), tmp_path / "missing" / "x.mp4")
    assert not list(tmp_path.rglob("*.mp4"))


def test_cut_from_a_file_matches_the_requested_seconds(tmp_path: Path) -> None:
    info = cut_file(str(PERSON_CLIP), 30.0, 50.0, tmp_path / "f.mp4", wall_origin=WALL0)
    assert WALL0 + 29.0 <= info.start <= WALL0 + 30.0 and info.end >= WALL0 + 50.0
    frames = _frames(tmp_path / "f.mp4")
    assert frames[0].key_frame and frames[0].time == 0.0 and len(frames) >= 200


_WRITER = """
import sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from tests.streamer.test_clips import _fill, WALL0
from streamer.packets import PacketRing
from streamer.clips import write_clip
ring = PacketRing("lobby", max_seconds=200.0, max_bytes=1 << 30)
_fill(ring, Path(sys.argv[1]), wall0=WALL0, seconds=139.0)
out = Path(sys.argv[2])
print("ready", flush=True)
i = 0
while True:
    write_clip(ring.cut(WALL0, WALL0 + 139.0), out / f"c{i}.mp4")
    i += 1
"""


@pytest.mark.slow
def test_kill_9_mid_write_leaves_no_half_clip_under_a_final_name(tmp_path: Path) -> None:
    from agents.memory.store import MomentMemory

    clips = tmp_path / "memory" / "clips"
    clips.mkdir(parents=True)
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(PERSON_CLIP), str(clips), str(ROOT)],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + scaled(60)
        while not (list(clips.glob("c1.mp4")) and list(clips.glob(".*.tmp"))):  # mid-write, one clip done
            assert time.monotonic() < deadline, "the writer never got going"
            time.sleep(0.001)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert list(clips.glob(".*.tmp"))  # killed mid-write: its temporary is there
    finished = sorted(clips.glob("c*.mp4"))
    expected = len(_frames(finished[0]))
    for path in finished:  # everything under a final name is whole
        assert len(_frames(path)) == expected, path
    MomentMemory(tmp_path / "memory").close()  # opening the memory clears what the dead writer left
    assert not list(clips.glob(".*.tmp"))


def test_a_camera_with_aac_audio_gets_it_in_its_clips(tmp_path: Path) -> None:
    import asyncio
    import shutil

    from streamer.reader import CameraReader
    from streamer.source import SourceOptions

    if shutil.which("ffmpeg") is None:
        pytest.fail("ffmpeg is needed (Debian package ffmpeg; .ci/run installs it)")
    source = tmp_path / "av.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i",
         "sine=frequency=440:sample_rate=48000", "-t", "12", "-c:v", "libx264", "-g", "25", "-bf", "0",
         "-c:a", "aac", "-shortest", str(source)],
        check=True,
    )  # fmt: skip
    ring = PacketRing("door", max_seconds=60.0, max_bytes=64 << 20)

    async def read() -> None:
        async with CameraReader("door", str(source), SourceOptions(), retry=False, ring=ring) as reader:
            async for _ in reader.frames():
                pass

    asyncio.run(read())
    assert ring.oldest is not None
    info = write_clip(ring.cut(ring.oldest + 2.0, ring.oldest + 8.0), tmp_path / "ring.mp4")
    cut = cut_file(str(source), 2.0, 8.0, tmp_path / "file.mp4")
    for clip, made in ((tmp_path / "ring.mp4", info), (tmp_path / "file.mp4", cut)):
        assert made.audio == "aac"
        with av.open(str(clip)) as container:
            assert container.streams.audio and container.streams.audio[0].codec_context.name == "aac"
            audio = list(container.decode(container.streams.audio[0]))
            seconds = sum(f.samples for f in audio) / 48000
        assert abs(seconds - made.duration_s) < 0.5, (clip.name, seconds, made.duration_s)


def test_a_clips_frames_are_the_frames_the_reader_made_from_the_same_footage() -> None:
    """Answers look at a clip's frames: they are converted as the live ones were, so a model sees the same pixels."""
    live = list(
        FrameDecoder("cam", str(PERSON_CLIP), SourceOptions(sample_fps=1.0, skip_nonref=False)).frames(
            threading.Event()
        )
    )[:10]
    kept = clip_frames(str(PERSON_CLIP), fps=1.0, start_wall=0.0)[:10]
    assert len(kept) == len(live) == 10
    for frame, still in zip(live, kept, strict=True):
        assert still.wall == pytest.approx(frame.pts, abs=1e-3)
        np.testing.assert_array_equal(still.image, frame.image)
        assert still.snapshot == frame.snapshot
