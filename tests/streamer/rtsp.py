"""Real RTSP servers for the tests: rtsp-server-perl (UDP, shared with the benchmarks) and GStreamer's (TCP, auth)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from agents.bench.common import free_port, wait_port
from agents.bench.rtsp import PerlRtspServer, terminate

__all__ = ["GstRtspServer", "PerlRtspServer"]


@dataclass
class GstRtspServer:
    """GStreamer's RTSP server: TCP transport only, with basic auth when a user is given."""

    clip: Path
    user: str | None = None
    password: str | None = None
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[str] | None = None

    def url(self, user: str | None = None, password: str | None = None) -> str:
        cred = f"{user}:{password}@" if user is not None else ""
        return f"rtsp://{cred}127.0.0.1:{self.port}/cam"

    def start(self) -> None:
        script = Path(__file__).with_name("gst_rtsp_server.py")
        args = ["/usr/bin/python3", str(script), str(self.port), str(self.clip)]
        if self.user is not None:
            args += [self.user, self.password or ""]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.proc.wait(timeout=10)
            err = self.proc.stderr.read()
            self.stop()
            raise RuntimeError(f"GStreamer RTSP server did not start: {line!r} {err}")
        wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc)
            for pipe in (self.proc.stdout, self.proc.stderr):
                if pipe is not None:
                    pipe.close()
            self.proc = None
