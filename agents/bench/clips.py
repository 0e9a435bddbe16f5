"""`feedwatch bench clips`: what keeping a camera's packets costs, and how fast a clip is written.

On one 1080p clip, side by side in one run: the reader's demux loop alone and with every packet handed to the
packet ring (CPU per second of stream, as a share of one core: what one real-time camera pays), the ring's
memory per camera-minute (all Python allocations, traced), and the time to write a 20 s clip from the ring and
to cut one from the file. The clip's GOP and bit rate are stated: the memory scales with the bit rate.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import av

from streamer.clips import cut_file, write_clip
from streamer.packets import PacketRing
from streamer.source import PacketKeeper

from .ingest import clip_facts

__all__ = ["format_report", "run_clips_bench"]


def _demux(path: Path, ring: PacketRing | None) -> tuple[float, float]:
    """CPU seconds of one pass of the reader's demux loop (with the ring when given), and the stream's seconds."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        keeper = PacketKeeper(ring, container, video, time.time())  # walls follow the stream, as a paced file's
        started = time.process_time()
        last = 0.0
        for packet in container.demux(*keeper.streams):
            if keeper.ring is not None:
                keeper.add(packet)
            if packet.pts is not None and packet.time_base is not None:
                last = float(packet.pts * packet.time_base)
        return time.process_time() - started, last


def run_clips_bench(path: Path, *, repeat: int = 5, progress: Any = None) -> dict[str, Any]:
    facts = clip_facts(path)
    facts["mbit_s"] = round(path.stat().st_size * 8 / 1e6 / max(facts["seconds"], 1e-9), 2)
    base, kept = [], []
    seconds = 0.0
    for i in range(repeat):  # alternating, best of each: the machine's noise hits both sides alike
        if progress:
            progress(f"demux pass {i + 1}/{repeat}: alone and with the packet ring")
        cpu, seconds = _demux(path, None)
        base.append(cpu)
        ring = PacketRing("bench", max_seconds=3600.0, max_bytes=1 << 34)
        cpu, _ = _demux(path, ring)
        kept.append(cpu)
    ring_cpu = max(0.0, min(kept) - min(base))
    tracemalloc.start()
    ring = PacketRing("bench", max_seconds=3600.0, max_bytes=1 << 34)
    _demux(path, ring)
    traced, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    per_minute = traced / max(ring.seconds, 1e-9) * 60
    writes, cuts = [], []
    with tempfile.TemporaryDirectory(prefix="feedwatch-bench-clips-") as tmp:
        start = ring.oldest or 0.0
        span = min(20.0, ring.seconds - 1.0)
        for i in range(repeat):
            gops = ring.cut(start + 1.0, start + 1.0 + span)
            t = time.perf_counter()
            info = write_clip(gops, Path(tmp) / f"ring{i}.mp4")
            writes.append(time.perf_counter() - t)
            t = time.perf_counter()
            cut_file(str(path), 1.0, 1.0 + span, Path(tmp) / f"file{i}.mp4")
            cuts.append(time.perf_counter() - t)
        clip_bytes = info.nbytes
        clip_s = info.duration_s
        # A camera with a privacy mask: the clip is decoded, masked and re-encoded (once: it takes seconds).
        t = time.perf_counter()
        cpu = time.process_time()
        write_clip(ring.cut(start + 1.0, start + 1.0 + span), Path(tmp) / "masked.mp4", masks=(_CORNER,))
        masked_s, masked_cpu = time.perf_counter() - t, time.process_time() - cpu
    return {
        "clip": facts,
        "repeat": repeat,
        "demux_cpu_s": round(min(base), 4),
        "demux_with_ring_cpu_s": round(min(kept), 4),
        "stream_s": round(seconds, 3),
        "ring_cpu_share_of_one_core": round(ring_cpu / max(seconds, 1e-9), 5),
        "ring_packets": ring.stats.packets,
        "ring_payload_mib_per_min": round(ring.nbytes / max(ring.seconds, 1e-9) * 60 / 2**20, 2),
        "ring_traced_mib_per_min": round(per_minute / 2**20, 2),
        "write_20s_ms": {"median": round(statistics.median(writes) * 1e3, 1), "max": round(max(writes) * 1e3, 1)},
        "cut_file_20s_ms": {"median": round(statistics.median(cuts) * 1e3, 1), "max": round(max(cuts) * 1e3, 1)},
        "written_clip": {"seconds": round(clip_s, 2), "bytes": clip_bytes},
        "masked_20s": {"wall_s": round(masked_s, 2), "cpu_s": round(masked_cpu, 2)},
    }


_CORNER = ((0.0, 0.0), (0.25, 0.0), (0.25, 0.4), (0.0, 0.4))


def format_report(r: dict[str, Any]) -> str:
    c = r["clip"]
    share = r["ring_cpu_share_of_one_core"] * 100
    return "\n".join([
        f"clip: {c['width']}x{c['height']} {c['codec']} {c['fps']:g} fps, GOP {c['gop_frames']:g} frames "
        f"({c['gop_s']} s), {c['seconds']:g} s, {c['mbit_s']} Mbit/s",
        f"demux alone:          {r['demux_cpu_s']:.3f} CPU s for {r['stream_s']:.1f} s of stream "
        f"(best of {r['repeat']})",
        f"demux + packet ring:  {r['demux_with_ring_cpu_s']:.3f} CPU s",
        f"ring cost:            {share:.2f}% of one core per real-time camera (target < 2%)",
        f"ring memory:          {r['ring_traced_mib_per_min']:.1f} MiB per camera-minute "
        f"(payload {r['ring_payload_mib_per_min']:.1f} MiB; scales with the bit rate)",
        f"20 s clip from ring:  {r['write_20s_ms']['median']:.1f} ms median, {r['write_20s_ms']['max']:.1f} ms max "
        f"(target < 100 ms; a remux, no encode; {r['written_clip']['bytes'] / 2**20:.1f} MiB, "
        f"{r['written_clip']['seconds']:.1f} s)",
        f"20 s cut from file:   {r['cut_file_20s_ms']['median']:.1f} ms median, "
        f"{r['cut_file_20s_ms']['max']:.1f} ms max",
        f"20 s clip, masked:    {r['masked_20s']['wall_s']:.2f} s ({r['masked_20s']['cpu_s']:.2f} CPU s): a privacy "
        "mask means decoding and re-encoding (libx264 veryfast)",
    ])  # fmt: skip
