"""Real RTSP servers for the tests: rtsp-server-perl (UDP) fed by an ffmpeg publisher."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.bench.common import free_port, wait_port, wait_stream
from tests.helpers import scaled


def _terminate(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 10 s."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@dataclass
class PerlRtspServer:
    """rtsp-server-perl: ffmpeg pushes to ``source_port``; clients read ``url`` (UDP transport)."""

    clip: Path
    client_port: int = field(default_factory=free_port)
    source_port: int = field(default_factory=free_port)
    path: str = "cam"
    server: subprocess.Popen[bytes] | None = None
    publisher: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.client_port}/{self.path}"

    def start(self) -> None:
        exe = shutil.which("rtsp-server-perl")
        if exe is None:
            raise RuntimeError("rtsp-server-perl is not installed (Debian package rtsp-server-perl)")
        self.server = subprocess.Popen(
            [exe, "-c", str(self.client_port), "-s", str(self.source_port), "-l", "1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.client_port)
        wait_port(self.source_port)
        self.start_publisher()

    def start_publisher(self) -> None:
        self.publisher = subprocess.Popen(
            ["ffmpeg", "-v", "error", "-re", "-stream_loop", "-1", "-i", str(self.clip), "-c", "copy",
             "-f", "rtsp", f"rtsp://127.0.0.1:{self.source_port}/{self.path}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_stream(self.url, timeout_s=scaled(30))  # the mount answers once the publisher has announced it

    def kill_publisher(self) -> None:
        """Stop the publisher mid-stream with SIGTERM.

        rtsp-server-perl frees a mount only on the publisher's TEARDOWN; after a SIGKILL the mount would
        stay forever and refuse the restarted publisher (403), which no real camera does.
        """
        if self.publisher is not None:
            _terminate(self.publisher)
            self.publisher = None

    def stop(self) -> None:
        self.kill_publisher()
        if self.server is not None:
            _terminate(self.server)
            self.server = None


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
            _terminate(self.proc)
            for pipe in (self.proc.stdout, self.proc.stderr):
                if pipe is not None:
                    pipe.close()
            self.proc = None
