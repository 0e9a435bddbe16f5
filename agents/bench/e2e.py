"""`feedwatch bench e2e`: cameras in real time through the whole service, alerts read off a real broker.

Each camera is a sample clip (the person, car and bottle clips in turn: a realistic mix, each with stretches
without activity) looped by an ffmpeg publisher into a real RTSP server (rtsp-server-perl, UDP) when it is
installed, else a file replayed at its own pace. The service runs as its own process
(`feedwatch run`), so its CPU time and memory are its own; this process is the MQTT subscriber.
Latency is measured from the wall-clock time of the frame that opened an alert to the moment the
subscriber receives the alert's ``new`` event. The number of cameras grows step by step; a step holds
"in real time" when no frame was dropped or skipped and the scheduler never fell more than two seconds
behind. The report names the CPU and what one frame costs each embedding runtime's image tower with nothing
else running: camera counts scale with it from one machine to another.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiomqtt
import yaml

from streamer.errors import FeedwatchError

from .common import LocalBroker, free_port, percentile, sample_frames, wait_port, wait_stream
from .rtsp import free_udp_block, perl_rtsp_server_command

__all__ = ["Feeds", "run_e2e_bench"]

_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


class Feeds:
    """The cameras' streams: an RTSP server with one publisher per camera, or paced files."""

    def __init__(self, clips: list[Path], cameras: int, use_rtsp: bool) -> None:
        self.clips, self.cameras, self.use_rtsp = clips, cameras, use_rtsp
        self.procs: list[subprocess.Popen[bytes]] = []
        self.client_port = free_port()
        self.source_port = free_port()

    def __enter__(self) -> Feeds:
        if not self.use_rtsp:
            return self
        rtp = free_udp_block(2 * self.cameras + 8)  # two RTP ports per stream
        self.procs.append(subprocess.Popen(
            perl_rtsp_server_command(self.client_port, self.source_port, rtp),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))  # fmt: skip
        wait_port(self.client_port)
        wait_port(self.source_port)
        for i in range(self.cameras):
            self.procs.append(subprocess.Popen(
                ["ffmpeg", "-v", "error", "-re", "-stream_loop", "-1", "-i", str(self.clip(i)), "-an", "-c", "copy",
                 "-f", "rtsp", f"rtsp://127.0.0.1:{self.source_port}/cam{i}"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ))  # fmt: skip
        for i in range(self.cameras):
            wait_stream(self.url(i))
        return self

    def cpu_s(self) -> float:
        """CPU seconds the rig itself (RTSP server and publishers) has used, on the cores feedwatch runs on."""
        total = 0.0
        for proc in self.procs:
            with contextlib.suppress(OSError):
                total += _cpu_s(proc.pid)
        return total

    def clip(self, i: int) -> Path:
        return self.clips[i % len(self.clips)]

    def url(self, i: int) -> str:
        return f"rtsp://127.0.0.1:{self.client_port}/cam{i}" if self.use_rtsp else str(self.clip(i))

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


async def _measure(
    cameras: int, seconds: float, broker_port: int, cfg_path: Path, report_path: Path, rig_cpu: Callable[[], float]
) -> dict[str, Any]:
    """Run the service, listen to its events for ``seconds`` once every camera is live, stop it."""
    latencies: list[float] = []
    async with aiomqtt.Client("127.0.0.1", broker_port, identifier="bench-subscriber") as client:
        await client.subscribe("bench/#", qos=1)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agents.cli", "run", "--config", str(cfg_path), "--report", str(report_path),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        live: set[str] = set()
        all_live = asyncio.Event()
        start_cpu = start_t = start_rig = 0.0

        async def listen() -> None:
            nonlocal start_cpu, start_t, start_rig
            async for m in client.messages:
                topic = str(m.topic)
                payload = bytes(m.payload) if isinstance(m.payload, (bytes, bytearray)) else b""
                if topic.endswith("/status"):
                    if json.loads(payload).get("status") == "live":
                        live.add(topic)
                        if len(live) == cameras and not start_t:
                            start_t, start_cpu, start_rig = time.monotonic(), _cpu_s(proc.pid), rig_cpu()
                            all_live.set()
                elif topic.endswith("/event") and start_t:
                    event = json.loads(payload)
                    if event["type"] == "new":
                        latencies.append(time.time() - event["start"])

        listener = asyncio.create_task(listen())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_live.wait(), 60)
        if not start_t:
            listener.cancel()
            proc.kill()
            await proc.wait()
            raise RuntimeError(f"{cameras} camera(s): not all live within 60 s ({len(live)} were)")
        await asyncio.sleep(seconds)  # measure: events keep arriving in the listener meanwhile
        listener.cancel()
        cpu = _cpu_s(proc.pid) - start_cpu
        rig = rig_cpu() - start_rig
        wall = time.monotonic() - start_t
        rss = _peak_rss_mb(proc.pid)
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
        if proc.returncode != 0:
            raise RuntimeError(f"feedwatch run failed: {err.decode()[-800:]}")
    return {"latencies": latencies, "cpu_s": cpu, "rig_cpu_s": rig, "wall_s": wall, "rss_mb": rss}


def service_config(urls: list[str], scorer: dict[str, Any], broker_port: int, memory: Path) -> dict[str, Any]:
    """The config the measured service runs with: one camera per URL, a real broker, the API on a free port."""
    paced = not urls or not urls[0].startswith("rtsp://")
    return {
        "cameras": [
            {"id": f"cam{i}", "url": url, **({"realtime": True, "loop": True} if paced else {})}
            for i, url in enumerate(urls)
        ],
        "queries": [{"id": "person", "text": "a person"}],
        "scorer": scorer,
        "memory": {"path": str(memory)},
        "mqtt": {"enabled": True, "port": broker_port, "prefix": "bench"},
        "http": {"port": 0},  # served as in production, on a free port: a bench never takes a fixed one
    }


def _step(
    cameras: int, seconds: float, clips: list[Path], scorer: dict[str, Any], use_rtsp: bool, work: Path
) -> dict[str, Any]:
    with LocalBroker(work) as broker, Feeds(clips, cameras, use_rtsp) as feeds:
        config = service_config([feeds.url(i) for i in range(cameras)], scorer, broker.port, work / "memory")
        cfg_path, report_path = work / "e2e.yaml", work / "report.json"
        cfg_path.write_text(yaml.safe_dump(config))
        measured = asyncio.run(_measure(cameras, seconds, broker.port, cfg_path, report_path, feeds.cpu_s))
    report = json.loads(report_path.read_text())
    cams = report["cameras"]
    dropped = sum(c["dropped"] for c in cams)
    skipped = sum(c["skipped"] for c in cams)
    max_lag = max((c["max_lag_s"] for c in cams), default=0.0)
    decision_p95 = max((c["lag_p95_s"] for c in cams), default=0.0)
    latencies = measured["latencies"]
    to_model = sum(c["model_frames"] for c in cams)
    held = sum(c["held_frames"] for c in cams)
    return {
        "cameras": cameras,
        "scorer": report["backend"],
        "seconds": round(measured["wall_s"], 1),
        "alerts": len(latencies),
        "latency_p50_s": round(percentile(latencies, 50), 3) if latencies else None,
        "latency_p95_s": round(percentile(latencies, 95), 3) if latencies else None,
        "cpu_per_camera": round(measured["cpu_s"] / measured["wall_s"] / cameras, 4),
        # The rig (RTSP server, one ffmpeg publisher per camera) runs on the same cores: what it took from them.
        "rig_cpu_cores": round(measured["rig_cpu_s"] / measured["wall_s"], 3),
        "rss_mb": round(measured["rss_mb"], 1),
        "rss_mb_per_camera": round(measured["rss_mb"] / cameras, 1),
        "frames_sampled": sum(c["sampled"] for c in cams),
        # From the service's counters over its whole run (start-up included): what the model ran on.
        "model_frames": to_model,
        "held_frames": held,
        "model_share": round(to_model / max(1, to_model + held), 3),
        "model_frames_per_camera_hour": round(3600 * to_model / cameras / max(1e-9, report["wall_s"])),
        "dropped_frames": dropped,
        "skipped_frames": skipped,
        "max_lag_s": max_lag,
        # The worst camera's p95 of a frame's arrival to its scores: with a model that alerts, its alerts' latency
        # is this plus the alert policy's confirmation (which the activity scorer's alert latency includes).
        "decision_lag_p95_s": decision_p95,
        "realtime": dropped == 0 and skipped == 0 and max_lag <= 2.0,
    }


def cpu_name() -> str:
    """The CPU this runs on: its name, with the family and model that a masked name ("AMD EPYC") hides."""
    fields: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    name = fields.get("model name") or platform.processor() or platform.machine()
    if "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']}, model {fields['model']})"
    return name


def model_alone(scorers: dict[str, dict[str, Any]], clip: Path) -> list[dict[str, Any]]:
    """What a frame costs each embedding runtime's image tower with nothing else running, in ms per image at
    batches of 1 and 8 (the checkpoint's preprocessing included): the machine's measure, which camera counts
    scale with from one machine to another. Timed on real frames of ``clip``, each model loaded and let go."""
    from ..config import EmbeddingSettings
    from ..scoring.embedding import EmbeddingScorer

    out: list[dict[str, Any]] = []
    for settings in {json.dumps(s["embedding"], sort_keys=True) for s in scorers.values() if "embedding" in s}:
        scorer = EmbeddingScorer(EmbeddingSettings(**json.loads(settings)))
        try:
            images = [f.image for f in sample_frames(clip, scorer.input_size, 8)]
            scorer.embed_images(images)  # warm-up: kernels, caches, the ONNX export on first use
            scorer.embed_images(images[:1])
            entry: dict[str, Any] = {"runtime": scorer.settings.runtime}
            for batch, rounds in ((1, 16), (8, 4)):
                t0 = time.perf_counter()
                for _ in range(rounds):
                    scorer.embed_images(images[:batch])
                entry[f"batch{batch}_ms"] = round((time.perf_counter() - t0) / rounds / batch * 1000, 1)
            out.append(entry)
        finally:
            scorer.close()
    return sorted(out, key=lambda e: str(e["runtime"]))


def run_e2e_bench(
    steps: list[int],
    *,
    seconds: float,
    clips: list[Path],
    scorers: dict[str, dict[str, Any]],
    progress: Callable[[str], None] | None = None,
    transport: str | None = None,
) -> dict[str, Any]:
    """Run every scorer at every camera count (stopping a scorer at its first step that falls behind).

    ``transport``: ``rtsp`` (a real RTSP server and a publisher per camera, on the same cores), ``files`` (each
    camera replays its clip at real time) or None (RTSP where its tools are installed)."""
    can_rtsp = shutil.which("rtsp-server-perl") is not None and shutil.which("ffmpeg") is not None
    if transport == "rtsp" and not can_rtsp:
        raise FeedwatchError(
            "bench e2e --transport rtsp needs rtsp-server-perl and ffmpeg on the PATH (apt-get install "
            "rtsp-server-perl ffmpeg), or use --transport files"
        )
    use_rtsp = can_rtsp if transport is None else transport == "rtsp"
    result: dict[str, Any] = {
        "transport": "rtsp (rtsp-server-perl, UDP)" if use_rtsp else "paced files",
        "clips": [str(c) for c in clips],
        "cpu_cores": os.cpu_count(),
        "cpu": cpu_name(),
        "model_alone": model_alone(scorers, clips[0]),
        "steps": [],
        "max_realtime_cameras": {},
    }
    for name, scorer in scorers.items():
        best = 0
        for n in steps:
            if progress:
                progress(f"{name}: {n} camera(s) for {seconds:g} s")
            with tempfile.TemporaryDirectory(prefix="feedwatch-e2e-") as work:
                step = _step(n, seconds, clips, scorer, use_rtsp, Path(work))
            step["scorer_setting"] = name
            result["steps"].append(step)
            if not step["realtime"]:
                break
            best = n
        result["max_realtime_cameras"][name] = best
    return result


def format_report(result: dict[str, Any]) -> str:
    clips = ", ".join(Path(c).stem for c in result["clips"])
    lines = [
        f"transport: {result['transport']}; {result['cpu_cores']} cores of {result['cpu']}; "
        f"cameras cycle through {clips}"
    ]
    for m in result["model_alone"]:
        lines.append(
            f"image tower alone ({m['runtime']}): {m['batch1_ms']:.1f} ms per image at batch 1, "
            f"{m['batch8_ms']:.1f} at batch 8 (preprocessing included)"
        )
    lines.append(f"{'scorer':<21}{'cams':>5}{'alerts':>7}{'p50 s':>7}{'p95 s':>7}{'cpu/cam':>8}{'MB/cam':>8}"
                 f"{'dropped':>8}{'skipped':>8}{'max lag':>8}{'lag p95':>8}{'model/cam-h':>12}{'rig cpu':>8}"
                 f"{'realtime':>9}")  # fmt: skip

    def f(x: float | None) -> str:
        return "-" if x is None else f"{x:.2f}"

    for s in result["steps"]:
        lines.append(
            f"{s['scorer_setting']:<21}{s['cameras']:>5}{s['alerts']:>7}{f(s['latency_p50_s']):>7}"
            f"{f(s['latency_p95_s']):>7}{s['cpu_per_camera']:>8.3f}{s['rss_mb_per_camera']:>8.0f}"
            f"{s['dropped_frames']:>8}{s['skipped_frames']:>8}{s['max_lag_s']:>8.2f}{s['decision_lag_p95_s']:>8.2f}"
            f"{s['model_frames_per_camera_hour']:>12}{s['rig_cpu_cores']:>8.2f}"
            f"{'yes' if s['realtime'] else 'no':>9}"
        )
    for name, n in result["max_realtime_cameras"].items():
        lines.append(f"{name}: {n} camera(s) in real time in one process")
    return "\n".join(lines)
