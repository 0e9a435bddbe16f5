"""The shipped benchmarks run and report what they promise (on small inputs; figures are not asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import SHORT_CLIP, run_cli

pytestmark = pytest.mark.slow


def test_bench_ingest_reports_every_mode_side_by_side(media: Path) -> None:
    result = run_cli("bench", "ingest", "--file", str(SHORT_CLIP), "--repeat", "1", "--json", timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["clip"]["gop_frames"] > 0
    for mode in ("full", "sampled", "keyframes", "every_frame"):
        entry = report["modes"][mode]
        for key in ("fps", "ffmpeg_fps", "ratio", "realtime_factor", "peak_rss_mb"):
            assert entry[key] > 0, (mode, key)
        assert entry["ratio"] == pytest.approx(entry["fps"] / entry["ffmpeg_fps"], rel=0.01)
    frames = report["clip"]["frames"]
    assert report["modes"]["full"]["frames_decoded"] == frames
    assert report["modes"]["keyframes"]["frames_decoded"] < frames
    assert report["buffer"]["mb_per_camera_minute"] > 0
