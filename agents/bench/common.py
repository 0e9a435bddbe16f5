"""Helpers for benchmarks: timed child processes with their peak memory, percentiles, clip preparation."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from streamer.frames import Frame

__all__ = [
    "ChildRun",
    "LocalBroker",
    "free_port",
    "percentile",
    "run_child",
    "run_python_child",
    "sample_frames",
    "wait_port",
    "wait_stream",
]


@dataclass(frozen=True, slots=True)
class ChildRun:
    """A finished child process: wall time, peak resident memory, and what it printed."""

    wall_s: float
    peak_rss_mb: float
    stdout: str
    stderr: str = ""


def run_child(args: list[str], timeout_s: float = 600, *, capture_stderr: bool = False) -> ChildRun:
    """Run ``args``, measuring wall time and the child's own peak RSS (from ``wait4``'s rusage)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(args, stdout=out, stderr=err, text=True)
        killer = threading.Timer(timeout_s, proc.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])} ... failed ({proc.returncode}): {stderr.strip()[-500:]}")
    return ChildRun(wall, usage.ru_maxrss / 1024.0, stdout, stderr if capture_stderr else "")


def run_python_child(module: str, *args: str, timeout_s: float = 600) -> tuple[ChildRun, dict[str, Any]]:
    """Run ``python -m module args`` and parse the JSON object it prints last."""
    run = run_child([sys.executable, "-m", module, *args], timeout_s)
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    return run, json.loads(lines[-1])


def sample_frames(clip: Path, size: int, n: int) -> list[Frame]:
    """The first ``n`` frames of ``clip`` at 1 fps, at the analysis size ``size``."""
    from streamer.source import FrameDecoder, SourceOptions  # PyAV: only for the benches that decode here

    decoder = FrameDecoder("bench", str(clip), SourceOptions(sample_fps=1.0, analysis_size=size, snapshot_size=0))
    out = []
    for frame in decoder.frames(threading.Event()):
        out.append(frame)
        if len(out) == n:
            break
    return out


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, 0.0 when empty."""
    return float(np.percentile(values, q)) if values else 0.0


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout_s: float = 10.0) -> None:
    """Wait until something listens on 127.0.0.1:``port``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s} s")


def wait_stream(url: str, timeout_s: float = 30.0) -> None:
    """Wait until ``url`` opens as a video stream (a publisher has started feeding the server)."""
    from streamer.errors import SourceError
    from streamer.source import SourceOptions, probe

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            probe(url, SourceOptions(open_timeout_s=2.0, read_timeout_s=2.0))
            return
        except SourceError as exc:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not start streaming within {timeout_s:g} s: {exc}") from None
        time.sleep(0.1)


class LocalBroker:
    """A mosquitto of the benchmark's own, on a free port (configuration in ``work``)."""

    def __init__(self, work: Path) -> None:
        self.port = free_port()
        self.conf = work / "mosquitto.conf"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> LocalBroker:
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen([exe, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
