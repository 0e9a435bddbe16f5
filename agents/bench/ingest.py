"""`feedwatch bench ingest`: the project's reader against the ffmpeg command line, on the same file.

Three modes: ``full`` (every frame decoded and delivered at analysis size), ``sampled`` (every frame
decoded, 1 fps delivered: how cameras are watched) and ``keyframes`` (key frames only: cheap watching
of many cameras). Each is run as a child process beside ``ffmpeg -threads N -i FILE -f null -`` (with
``-skip_frame nokey`` for key frames), alternating, best of ``repeat``; peak RSS is each child's own.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import av

from streamer.source import SourceOptions

from .common import run_child, run_python_child

__all__ = ["clip_facts", "prepare_clip", "run_ingest_bench"]

log = logging.getLogger(__name__)

MODES = ("full", "sampled", "keyframes", "every_frame")
_RTIME = re.compile(r"rtime=([0-9.]+)s")


def prepare_clip(work: Path, seconds: float, base: Path | None, *, mbit_s: float | None = None) -> Path:
    """A 1080p30 H.264 clip with a 2 s GOP (60 frames), made from ``base`` (real footage) when given; at
    ``mbit_s`` (average and cap, as cameras encode) when given, else at x264's default quality."""
    rate = (
        [] if mbit_s is None else ["-b:v", f"{mbit_s:g}M", "-maxrate", f"{mbit_s:g}M", "-bufsize", f"{2 * mbit_s:g}M"]
    )
    out = work / f"bench-1080p30-{int(seconds)}s{'' if mbit_s is None else f'-{mbit_s:g}mbit'}.mp4"
    if out.is_file():
        return out
    if shutil.which("ffmpeg") is None:
        raise RuntimeError("ffmpeg is not installed; pass --file to benchmark an existing clip")
    source = (
        ["-stream_loop", "-1", "-i", str(base)] if base else ["-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30"]
    )
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", *source, "-t", str(seconds), "-vf", "scale=1920:1080,fps=30",
         "-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-keyint_min", "60", "-sc_threshold", "0", *rate,
         "-pix_fmt", "yuv420p", "-an", str(out)],
        check=True,
    )  # fmt: skip
    return out


def clip_facts(path: Path) -> dict[str, Any]:
    """Size, rate, duration, codec and measured GOP (frames between key frames) of a clip."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        keys, frames = [], 0
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            if packet.is_keyframe:
                keys.append(frames)
            frames += 1
        fps = float(stream.average_rate or 0)
        duration = frames / fps if fps else 0.0
        gops = [b - a for a, b in itertools.pairwise(keys)]
        gop = sum(gops) / len(gops) if gops else float(frames)
        return {
            "file": str(path),
            "codec": stream.codec_context.name,
            "width": stream.codec_context.width,
            "height": stream.codec_context.height,
            "fps": round(fps, 3),
            "frames": frames,
            "seconds": round(duration, 3),
            "gop_frames": round(gop, 1),
            "gop_s": round(gop / fps, 3) if fps else None,
            "keyframes": len(keys),
        }


def _ffmpeg(path: Path, mode: str, threads: int, size: tuple[int, int]) -> tuple[float, float, float]:
    """(decode seconds as ffmpeg's -benchmark reports them, wall seconds, peak RSS MB)."""
    skip = ["-skip_frame", "nokey"] if mode == "keyframes" else []
    # For every_frame, ffmpeg does the same work as the reader: scale to analysis size, convert to RGB.
    convert = ["-vf", f"scale={size[0]}:{size[1]}:flags=area,format=rgb24"] if mode == "every_frame" else []
    run = run_child(["ffmpeg", "-hide_banner", "-nostats", "-benchmark", "-threads", str(threads), *skip,
                     "-i", str(path), *convert, "-f", "null", "-"], capture_stderr=True)  # fmt: skip
    found = _RTIME.findall(run.stderr)
    if not found:
        raise RuntimeError("ffmpeg -benchmark printed no rtime")
    return float(found[-1]), run.wall_s, run.peak_rss_mb


def run_ingest_bench(path: Path, *, repeat: int = 5, progress: Any = None) -> dict[str, Any]:
    """Measure every mode side by side, alternating ours and ffmpeg; best of ``repeat`` each.

    ``fps`` counts source frames processed (decoded or skipped by design) per second of decoding, timed
    inside each process (the reader's loop; ffmpeg's own -benchmark rtime), so interpreter start-up is
    not counted against either; the ``*_wall_s`` fields include it.
    """
    facts = clip_facts(path)
    threads = os.cpu_count() or 1
    size = _analysis_size(facts)
    report: dict[str, Any] = {"clip": facts, "threads": threads, "repeat": repeat, "modes": {}}
    for mode in MODES:
        ours: list[tuple[float, float, float, dict[str, Any]]] = []
        theirs: list[tuple[float, float, float]] = []
        for i in range(repeat):
            if progress:
                progress(f"{mode}: run {i + 1}/{repeat}")
            run, result = run_python_child("agents.bench.ingest_worker", mode, str(path))
            ours.append((float(result["seconds"]), run.wall_s, run.peak_rss_mb, result))
            theirs.append(_ffmpeg(path, mode, threads, size))
        secs, wall, _, result = min(ours, key=lambda r: r[0])
        ff_secs, ff_wall, _ = min(theirs, key=lambda r: r[0])
        frames = facts["frames"]  # both sides go through the whole file
        entry = {
            "fps": round(frames / secs, 1),
            "ffmpeg_fps": round(frames / ff_secs, 1),
            "ratio": round(ff_secs / secs, 3),
            "realtime_factor": round(facts["seconds"] / secs, 1),
            "realtime_factor_wall": round(facts["seconds"] / wall, 1),
            "ffmpeg_realtime_factor": round(facts["seconds"] / ff_secs, 1),
            "peak_rss_mb": round(max(r[2] for r in ours), 1),
            "ffmpeg_peak_rss_mb": round(max(r[2] for r in theirs), 1),
            "frames_decoded": result["decoded"],
            "frames_delivered": result["delivered"],
            "decode_s": round(secs, 3),
            "ffmpeg_decode_s": round(ff_secs, 3),
            "wall_s": round(wall, 3),
            "ffmpeg_wall_s": round(ff_wall, 3),
        }
        if mode == "sampled":
            per_frame = result["frame_bytes"]
            entry["frame_bytes"] = per_frame
            report["buffer"] = {
                "analysis_size": SourceOptions().analysis_size,
                "sample_fps": 1.0,
                "mb_per_camera_minute": round(per_frame * 60 / 2**20, 2),
                "note": "frames at analysis size plus their snapshot JPEG; the buffer is capped per camera by "
                "buffer.max_mb and buffer.seconds",
            }
        report["modes"][mode] = entry
    return report


def _analysis_size(facts: dict[str, Any]) -> tuple[int, int]:
    side = SourceOptions().analysis_size
    w, h = facts["width"], facts["height"]
    scale = min(1.0, side / max(w, h))
    return max(2, round(w * scale / 2) * 2), max(2, round(h * scale / 2) * 2)


def format_report(report: dict[str, Any]) -> str:
    """A short table for people."""
    c = report["clip"]
    lines = [
        f"clip: {c['width']}x{c['height']} {c['codec']} {c['fps']} fps, {c['seconds']} s, GOP {c['gop_frames']} frames "
        f"({c['gop_s']} s); {report['threads']} decoder threads; best of {report['repeat']}",
        f"{'mode':<12}{'fps':>9}{'ffmpeg fps':>12}{'ratio':>8}{'x realtime':>12}{'RSS MB':>9}{'ffmpeg RSS':>12}",
    ]
    for mode, e in report["modes"].items():
        lines.append(
            f"{mode:<12}{e['fps']:>9.1f}{e['ffmpeg_fps']:>12.1f}{e['ratio']:>8.2f}{e['realtime_factor']:>12.1f}"
            f"{e['peak_rss_mb']:>9.0f}{e['ffmpeg_peak_rss_mb']:>12.0f}"
        )
    if "buffer" in report:
        b = report["buffer"]
        lines.append(f"rolling buffer: {b['mb_per_camera_minute']} MB per camera-minute at {b['sample_fps']:g} fps, "
                     f"analysis size {b['analysis_size']} px")  # fmt: skip
    return "\n".join(lines)
