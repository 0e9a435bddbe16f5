"""`feedwatch bench recovery`: how fast a camera is back after its stream dies, measured as a user sees it.

One RTSP camera (rtsp-server-perl over UDP, fed by an ffmpeg publisher of a generated 25 fps clip with a keyframe
every second) watched by ``feedwatch run`` in its own process, with a broker of the benchmark's own. This process
kills the publisher N times, each time for a random outage of ``min..max`` seconds, and reads the camera's
retained MQTT status: detection is the time from the kill to the first status other than ``live``; recovery is
the time from the publisher's restart (the moment its process starts) to ``live``. Each kill comes after the
camera was live for a few seconds, so outages are separate.

``--flap S`` then runs the publisher up 1 s, down 1 s for S seconds and reports the service's CPU (share of one
core over the flapping), the log lines it wrote meanwhile, the status changes it published and how often the
camera's ``on_offline`` hook ran (its ``after_s`` is the longest outage plus 8 s, so the kills never reach it; its
cooldown is longer than the run).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiomqtt
import yaml

from .common import LocalBroker, percentile
from .rtsp import PerlRtspServer, make_camera_clip

__all__ = ["format_report", "run_recovery_bench"]

_TICK = os.sysconf("SC_CLK_TCK")
FPS, GOP = 25, 25


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime


class _Watch:
    """The camera's status as the service publishes it, with the time each one arrived."""

    def __init__(self) -> None:
        self.status = ""
        self.changes: list[tuple[float, str]] = []
        self.outages: list[dict[str, Any]] = []
        self._changed = asyncio.Event()

    def seen(self, topic: str, payload: bytes) -> None:
        if topic.endswith("/status"):
            status = json.loads(payload).get("status", "")
            if status != self.status:
                self.status = status
                self.changes.append((time.monotonic(), status))
                self._changed.set()
        elif topic.endswith("/outage"):
            self.outages.append(json.loads(payload))
            self._changed.set()

    @property
    def backs(self) -> int:
        """Outages that ended (their ``back`` event arrived)."""
        return sum(1 for o in self.outages if o.get("event") == "back")

    async def until(self, pred: Callable[[str], bool], timeout_s: float) -> float | None:
        """Wait for a status that satisfies ``pred``; the monotonic time it arrived, or None on timeout."""
        return await self.until_watch(lambda w: pred(w.status), timeout_s)

    async def until_watch(self, pred: Callable[[_Watch], bool], timeout_s: float) -> float | None:
        """Wait until ``pred(self)``; the monotonic time of the last status change then, or None on timeout."""
        deadline = time.monotonic() + timeout_s
        while not pred(self):
            self._changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)
        return self.changes[-1][0] if self.changes else time.monotonic()


def _config(url: str, broker_port: int, memory: Path, hook: list[str], hook_after_s: float) -> dict[str, Any]:
    camera: dict[str, Any] = {"id": "cam", "url": url, "fps": 1}
    camera["on_offline"] = {"after_s": hook_after_s, "command": hook, "cooldown_s": 3600}
    return {
        "cameras": [camera],
        "queries": [{"id": "motion", "text": "anything moves"}],
        "scorer": {"backend": "activity"},
        "memory": {"path": str(memory)},
        "mqtt": {"enabled": True, "port": broker_port, "prefix": "bench"},
        "http": {"enabled": False},
    }


async def _session(
    server: PerlRtspServer,
    broker: LocalBroker,
    cfg_path: Path,
    log_path: Path,
    *,
    kills: int,
    outage_s: tuple[float, float],
    flap_s: float,
    rng: random.Random,
    progress: Callable[[str], None] | None,
) -> dict[str, Any]:
    watch = _Watch()
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="bench-recovery") as client:
        await client.subscribe("bench/cam/#", qos=1)

        async def listen() -> None:
            async for m in client.messages:
                payload = bytes(m.payload) if isinstance(m.payload, (bytes, bytearray)) else b""
                watch.seen(str(m.topic), payload)

        listener = asyncio.create_task(listen())
        with log_path.open("wb") as log_file:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "agents.cli", "run", "--config", str(cfg_path),
                stdout=asyncio.subprocess.DEVNULL, stderr=log_file,
            )  # fmt: skip
        try:
            if await watch.until(lambda s: s == "live", 60) is None:
                tail = b"\n".join((await asyncio.to_thread(_log_lines, log_path))[-10:]).decode(errors="replace")
                raise RuntimeError(f"the camera was not live within 60 s: {tail}")
            detections: list[float] = []
            recoveries: list[float] = []
            outages: list[float] = []
            for i in range(kills):
                await asyncio.sleep(rng.uniform(4.0, 6.0))  # live a while: each outage is its own
                outage = rng.uniform(*outage_s)
                outages.append(outage)
                if progress:
                    progress(f"kill {i + 1}/{kills}: publisher down for {outage:.1f} s")
                killed = time.monotonic()
                await asyncio.to_thread(server.kill_publisher)
                gone = await watch.until(lambda s: s != "live", 60)
                if gone is not None:
                    detections.append(gone - killed)
                await asyncio.sleep(max(0.0, killed + outage - time.monotonic()))
                back = time.monotonic()
                server.start_publisher(wait=False)
                live = await watch.until(lambda s: s == "live", 120)
                if live is not None:
                    recoveries.append(live - back)
            # The last outage closes once the camera has been back a few seconds.
            await watch.until_watch(lambda w: w.backs >= len(recoveries), 15.0)
            backs = watch.backs
            flap = await _flap(server, watch, proc.pid, log_path, flap_s, progress) if flap_s > 0 else None
        finally:
            listener.cancel()
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 60)
    return {
        "kills": kills,
        "recoveries": len(recoveries),
        "outage_s": [round(x, 2) for x in outages],
        "detection_s": _summary(detections),
        "recovery_s": _summary(recoveries),
        "outage_events": backs,
        "flap": flap,
    }


async def _flap(
    server: PerlRtspServer,
    watch: _Watch,
    pid: int,
    log_path: Path,
    seconds: float,
    progress: Callable[[str], None] | None,
) -> dict[str, Any]:
    if watch.status != "live" and await watch.until(lambda s: s == "live", 60) is None:
        raise RuntimeError("the camera was not live before flapping")
    await asyncio.sleep(5.0)  # the last outage is over (the camera is back after 3 s of frames)
    if progress:
        progress(f"flapping: publisher up 1 s, down 1 s, for {seconds:g} s")
    lines_before = len(await asyncio.to_thread(_log_lines, log_path))
    changes_before = len(watch.changes)
    cpu0, t0 = _cpu_s(pid), time.monotonic()
    cycles = 0
    while time.monotonic() - t0 < seconds:
        await asyncio.to_thread(server.kill_publisher)
        await asyncio.sleep(1.0)
        server.start_publisher(wait=False)
        await asyncio.sleep(1.0)
        cycles += 1
    cpu, wall = _cpu_s(pid) - cpu0, time.monotonic() - t0
    await asyncio.to_thread(server.kill_publisher)  # end on a camera that stays away: no recovery to log
    lines = (await asyncio.to_thread(_log_lines, log_path))[lines_before:]
    return {
        "seconds": round(wall, 1),
        "cycles": cycles,
        "cpu_share_of_one_core": round(cpu / wall, 4),
        "log_lines": len(lines),
        "status_changes_published": len(watch.changes) - changes_before,
        "hook_runs": sum(b"running its on_offline command" in line for line in lines),
        "log": [line.decode(errors="replace") for line in lines[:20]],
    }


def _log_lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def _summary(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "max": None}
    return {"p50": round(percentile(values, 50), 2), "p95": round(percentile(values, 95), 2),
            "max": round(max(values), 2)}  # fmt: skip


def run_recovery_bench(
    kills: int,
    *,
    outage_s: tuple[float, float] = (1.0, 10.0),
    flap_s: float = 0.0,
    seed: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Kill the camera's publisher ``kills`` times (then flap it for ``flap_s``) and report the figures."""
    seed = random.SystemRandom().randrange(2**31) if seed is None else seed
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="feedwatch-recovery-") as tmp:
        work = Path(tmp)
        clip = make_camera_clip(work / "camera.mp4", fps=FPS, gop=GOP, seconds=20)
        hook_after_s = outage_s[1] + 8.0
        hook = [sys.executable, "-c", "import os; print('recovery hook for', os.environ['FEEDWATCH_CAMERA'])"]
        with LocalBroker(work) as broker:
            server = PerlRtspServer(clip)
            server.start()
            try:
                cfg_path = work / "recovery.yaml"
                config = _config(server.url, broker.port, work / "memory", hook, hook_after_s)
                cfg_path.write_text(yaml.safe_dump(config))
                result = asyncio.run(
                    _session(server, broker, cfg_path, work / "service.log", kills=kills, outage_s=outage_s,
                             flap_s=flap_s, rng=rng, progress=progress)
                )  # fmt: skip
            finally:
                server.stop()
    return {
        "source": f"rtsp (rtsp-server-perl, UDP), H.264 {FPS} fps, GOP {GOP} frames (1 s), 320x240",
        "seed": seed,
        "outage_range_s": list(outage_s),
        "hook_after_s": hook_after_s,
        **result,
    }


def format_report(result: dict[str, Any]) -> str:
    def row(name: str, s: dict[str, float | None]) -> str:
        cells = ["-" if s[k] is None else f"{s[k]:.2f}" for k in ("p50", "p95", "max")]
        return f"{name:<34}{cells[0]:>7}{cells[1]:>7}{cells[2]:>7}"

    lines = [
        f"source: {result['source']}; seed {result['seed']}",
        f"recoveries/kills: {result['recoveries']}/{result['kills']} (outages {result['outage_range_s'][0]:g}-"
        f"{result['outage_range_s'][1]:g} s); outage events with a duration: {result['outage_events']}",
        f"{'seconds':<34}{'p50':>7}{'p95':>7}{'max':>7}",
        row("kill -> not live (detection)", result["detection_s"]),
        row("publisher back -> live (recovery)", result["recovery_s"]),
    ]
    flap = result.get("flap")
    if flap:
        lines.append(
            f"flapping {flap['seconds']:g} s ({flap['cycles']} cycles of 1 s up, 1 s down): CPU "
            f"{100 * flap['cpu_share_of_one_core']:.1f}% of one core, {flap['log_lines']} log lines, "
            f"{flap['status_changes_published']} status changes published, hook (after {result['hook_after_s']:g} s "
            f"away) ran {flap['hook_runs']} time(s)"
        )
    return "\n".join(lines)
