"""`feedwatch bench scoring`: how fast each scorer that can run here scores, and whether it keeps up.

Throughput and per-window latency are measured on real frames (the sample clip at 1 fps), with every
backend at its real architecture and size: real weights when they are in the cache, else random weights
of the same shapes, which cost the same compute (the report says which). ``queue_lag_s`` comes from a
real-time replay of several cameras at once through the service: how far behind the newest frame the
scheduler was when it scored.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from streamer.frames import Window

from ..config import ScorerConfig, validate_config
from ..scoring import Query, Scorer, create_scorer
from ..service import Service
from .common import percentile, sample_frames
from .vlm_server import StandInVLMServer

__all__ = ["run_scoring_bench"]

_QUERIES = [
    Query("person", "a person"),
    Query("door", "a person opens the door"),
    Query("parcel", "a parcel is left at the door"),
]


def _throughput(scorer: Scorer, clip: Path, windows: int, window: int, stride_s: float) -> dict[str, Any]:
    """Windows of ``window`` frames, every query of a window in one call, after one window of warm-up."""
    frames = sample_frames(clip, scorer.input_size, (windows + 1) * window + 1)
    chunks = [tuple(frames[i * window : (i + 1) * window]) for i in range(windows + 1)]
    chunks = [c for c in chunks if c]
    scorer.score(Window("bench", chunks[0]), _QUERIES)  # warm-up: kernels, caches, lazy loading
    tokens_before = getattr(scorer, "generated_tokens", None)
    latencies = []
    scored = 0
    t0 = time.perf_counter()
    for chunk in chunks[1:]:
        t = time.perf_counter()
        scorer.score(Window("bench", chunk), _QUERIES)
        latencies.append(time.perf_counter() - t)
        scored += len(chunk)
    wall = time.perf_counter() - t0
    windows_per_s = len(latencies) / wall
    # A camera at 1 fps needs a new window every stride seconds (windowed backends), or each frame scored once.
    cameras = windows_per_s * stride_s if scorer.windowed else scored / wall
    out: dict[str, Any] = {
        "frames_per_s": round(scored / wall, 2),
        "windows_per_s": round(windows_per_s, 3),
        "window_frames": window,
        "queries_per_window": len(_QUERIES),
        "window_latency_p50_s": round(percentile(latencies, 50), 4),
        "window_latency_p95_s": round(percentile(latencies, 95), 4),
        "stride_s": stride_s if scorer.windowed else None,
        "cameras_per_device": round(cameras, 1),
    }
    if tokens_before is not None:
        out["tokens_per_s"] = round((getattr(scorer, "generated_tokens", 0) - tokens_before) / wall, 1)
    return out


async def _replay_lag(scorer_cfg: dict[str, Any], clip: Path, cameras: int, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="feedwatch-bench-scoring-") as memory:
        config = validate_config(
            {
                "cameras": [
                    {"id": f"cam{i}", "url": str(clip), "realtime": True, "loop": True} for i in range(cameras)
                ],
                "queries": [{"id": q.id, "text": q.text} for q in _QUERIES],
                "scorer": scorer_cfg,
                "memory": {"path": memory},
            }
        )
        service = Service(config, retry=True)  # no extensions: the replay binds no port
        task = asyncio.create_task(service.run())
        # Sample how far behind the scheduler is: the age of the oldest frame it has not scored yet.
        lag = 0.0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await asyncio.sleep(0.25)
            for buf in (camera.buffer for camera in service.cameras.values()):
                waiting = buf.after(buf.consumed_seq, limit=1)
                if waiting:
                    lag = max(lag, time.time() - waiting[0].wall)
        service.stop()
        report = await task
    return {
        "cameras": cameras,
        "seconds": seconds,
        "queue_lag_s": round(max(lag, *(c.max_lag_s for c in report.cameras)), 3),
        "skipped_frames": sum(c.skipped for c in report.cameras),
        "scored_frames": sum(c.scored for c in report.cameras),
    }


def run_scoring_bench(
    backends: dict[str, tuple[dict[str, Any], str]],
    *,
    clip: Path,
    windows: int = 8,
    cameras: int = 4,
    seconds: float = 20.0,
    stride_s: float = 8.0,
    replay: bool = True,
    progress: Callable[[str], None] | None = None,
    servers: dict[str, StandInVLMServer] | None = None,
) -> dict[str, Any]:
    """``backends`` maps a name to (scorer config, what its weights are). ``servers``: the stand-in model server a
    remote backend talks to, whose counts (requests, the most in flight at once) join its figures."""
    result: dict[str, Any] = {"clip": str(clip), "cameras": cameras, "backends": {}}
    for name, (cfg, weights) in backends.items():
        server = (servers or {}).get(name)
        if server is not None:
            server.reset_counts()
        if progress:
            progress(f"{name}: loading ({weights})")
        config = ScorerConfig.model_validate(cfg)
        scorer = create_scorer(config, config.backend)
        try:
            window = config.window if scorer.windowed else 16
            if progress:
                progress(f"{name}: scoring {windows} windows of {window} frames")
            entry = _throughput(scorer, clip, windows, window, stride_s)
            entry["device"] = getattr(scorer, "device", "cpu")
        finally:
            scorer.close()
        entry["weights"] = weights
        if replay:
            if progress:
                progress(f"{name}: real-time replay of {cameras} cameras for {seconds:g} s")
            if server is not None:
                server.reset_counts()
            entry["replay"] = asyncio.run(_replay_lag(cfg, clip, cameras, seconds))
            if server is not None:
                entry["replay"]["server"] = _server_figures(server, cfg, cameras, seconds)
                # A windowed backend's frame waits up to a stride for its window; past that (and a 2 s margin for
                # the answer), the scorer is falling behind.
                entry["replay"]["real_time"] = entry["replay"]["queue_lag_s"] <= stride_s + 2.0
        result["backends"][name] = entry
    return result


def _server_figures(server: StandInVLMServer, cfg: dict[str, Any], cameras: int, seconds: float) -> dict[str, Any]:
    """What the replay asked of the model server and what it got: requests needed and served per second, the most
    in flight at once, connections opened, and whether the cameras were kept in real time."""
    stride = int(cfg.get("stride", 8))
    needed = cameras * len(_QUERIES) / stride  # 1 fps cameras: a window every stride seconds, a request per query
    served = server.requests / seconds
    return {
        "latency_s": server.latency_s,
        "requests_needed_per_s": round(needed, 2),
        "requests_served_per_s": round(served, 2),
        "most_in_flight": server.most_open,
        "connections": len(server.connections),
        "max_in_flight": cfg.get("openai", {}).get("max_in_flight"),
        "stride_s": stride,
    }


def format_report(result: dict[str, Any]) -> str:
    lines = [f"{'backend':<11}{'device':>7}{'frames/s':>10}{'windows/s':>10}{'tokens/s':>9}{'p50 s':>8}{'p95 s':>8}"
             f"{'cameras':>8}{'lag s':>7}  weights"]  # fmt: skip
    for name, e in result["backends"].items():
        tokens = f"{e['tokens_per_s']:.0f}" if "tokens_per_s" in e else "-"
        lag = f"{e['replay']['queue_lag_s']:.2f}" if "replay" in e else "-"
        lines.append(
            f"{name:<11}{e['device']:>7}{e['frames_per_s']:>10.1f}{e['windows_per_s']:>10.3f}{tokens:>9}"
            f"{e['window_latency_p50_s']:>8.3f}{e['window_latency_p95_s']:>8.3f}{e['cameras_per_device']:>8.1f}"
            f"{lag:>7}  {e['weights']}"
        )
    lines.append(
        "cameras: how many 1 fps cameras one device keeps up with (windowed backends: a window every stride seconds)"
    )
    remote = {n: e["replay"]["server"] for n, e in result["backends"].items() if "server" in e.get("replay", {})}
    if remote:
        lines.append("")
        lines.append(f"{'remote':<13}{'in flight':>10}{'most':>6}{'conns':>6}{'needed/s':>10}{'served/s':>10}"
                     f"{'lag s':>8}{'real time':>10}  (stand-in server, flat latency)")  # fmt: skip
        for name, srv in remote.items():
            replay = result["backends"][name]["replay"]
            lines.append(
                f"{name:<13}{srv['max_in_flight']:>10}{srv['most_in_flight']:>6}{srv['connections']:>6}"
                f"{srv['requests_needed_per_s']:>10.2f}{srv['requests_served_per_s']:>10.2f}"
                f"{replay['queue_lag_s']:>8.2f}{'yes' if replay['real_time'] else 'NO':>10}"
            )
        lines.append(f"real time: lag within a stride ({next(iter(remote.values()))['stride_s']:g} s) plus 2 s, "
                     f"{result['cameras']} cameras x {len(_QUERIES)} queries")  # fmt: skip
    return "\n".join(lines)
