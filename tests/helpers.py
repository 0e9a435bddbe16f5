"""Helpers for the tests: paths of the real sample clips, free ports, a broker, a CLI runner."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from agents.bench.common import free_port, wait_port

ROOT = Path(__file__).resolve().parents[1]
MEDIA = Path(os.environ.get("FEEDWATCH_MEDIA", ROOT.parent / "shared" / "media")) / "intel-sample-videos"
PERSON_CLIP = MEDIA / "one-by-one-person-detection.mp4"
PERSON_TRUTH = MEDIA / "one-by-one-person-detection.events.json"
SHORT_CLIP = MEDIA / "asl_walk.mkv"


@dataclass
class Broker:
    """A mosquitto the test owns, on a free port."""

    port: int
    conf: Path
    proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def on_free_port(cls, folder: Path, *, persistence: bool = False) -> Broker:
        """A broker config of its own; with ``persistence`` it keeps sessions across its restarts."""
        port = free_port()
        conf = folder / f"mosquitto-{port}.conf"
        lines = [f"listener {port} 127.0.0.1", "allow_anonymous true"]
        if os.geteuid() == 0:
            lines.append("user root")  # else mosquitto drops to its own user, which cannot read the test's files
        if persistence:
            lines += ["persistence true", f"persistence_location {folder}/", "autosave_interval 1"]
        else:
            lines.append("persistence false")
        conf.write_text("\n".join(lines) + "\n")
        return cls(port, conf)

    def start(self) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen([exe, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


def run_cli(*args: str, timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``feedwatch ARGS`` as a user would, in a fresh interpreter."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "agents.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd=ROOT,
        check=False,
    )
