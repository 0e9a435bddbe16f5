"""A real RTSP camera for benchmarks and tests: rtsp-server-perl (UDP) fed by an ffmpeg publisher."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .common import free_port, wait_port, wait_stream

__all__ = ["PerlRtspServer", "free_udp_block", "make_camera_clip", "perl_rtsp_server_command", "terminate"]

# rtsp-server-perl with its RTP ports moved: the packaged script always starts them at 20000 (and returns there
# whenever its last mount goes away), so two servers on one machine (a benchmark beside the tests) would steal
# each other's publishers' packets. Same code as /usr/bin/rtsp-server-perl, with the first argument as the base.
_PERL_SERVER = (
    "use strict; use warnings; use AnyEvent; use RTSP::Server;"
    "$RTSP::Server::RTP_START_PORT = shift @ARGV;"
    "my $srv = RTSP::Server->new_with_options(rtp_start_port => $RTSP::Server::RTP_START_PORT);"
    "$srv->listen; AnyEvent->condvar->recv;"
)


def free_udp_block(size: int = 64) -> int:
    """An even UDP port with ``size`` free ports from it (for RTP), picked at random to stay clear of others."""
    rng = random.SystemRandom()
    for _ in range(200):
        base = rng.randrange(20000, 60000 - size, 2)
        sockets: list[socket.socket] = []
        try:
            for port in range(base, base + size):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sockets.append(sock)
                sock.bind(("", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError(f"no block of {size} free UDP ports found")


def perl_rtsp_server_command(client_port: int, source_port: int, rtp_start_port: int) -> list[str]:
    """The command that runs rtsp-server-perl's server on these ports (RTP from ``rtp_start_port``)."""
    if shutil.which("rtsp-server-perl") is None:
        raise RuntimeError("rtsp-server-perl is not installed (Debian package rtsp-server-perl)")
    return ["perl", "-e", _PERL_SERVER, str(rtp_start_port), "-c", str(client_port), "-s", str(source_port), "-l", "1"]


def terminate(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 10 s."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@dataclass
class PerlRtspServer:
    """rtsp-server-perl: ffmpeg pushes ``clip`` (looped, at its own pace) to ``source_port``; clients read ``url``.

    ``wait_s`` bounds how long starting the publisher waits for the stream to answer."""

    clip: Path
    wait_s: float = 30.0
    client_port: int = field(default_factory=free_port)
    source_port: int = field(default_factory=free_port)
    path: str = "cam"
    server: subprocess.Popen[bytes] | None = None
    publisher: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.client_port}/{self.path}"

    def start(self) -> None:
        if shutil.which("ffmpeg") is None:
            raise RuntimeError("ffmpeg is not installed (Debian package ffmpeg)")
        command = perl_rtsp_server_command(self.client_port, self.source_port, free_udp_block())
        self.server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.client_port)
        wait_port(self.source_port)
        self.start_publisher()

    def start_publisher(self, *, wait: bool = True) -> None:
        """Start pushing the clip; with ``wait``, return once a client can open the stream."""
        self.publisher = subprocess.Popen(
            ["ffmpeg", "-v", "error", "-re", "-stream_loop", "-1", "-i", str(self.clip), "-c", "copy",
             "-f", "rtsp", f"rtsp://127.0.0.1:{self.source_port}/{self.path}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        if wait:
            wait_stream(self.url, timeout_s=self.wait_s)  # the mount answers once the publisher announced it

    def kill_publisher(self) -> None:
        """Stop the publisher mid-stream with SIGTERM.

        rtsp-server-perl frees a mount only on the publisher's TEARDOWN; after a SIGKILL the mount would
        stay forever and refuse the restarted publisher (403), which no real camera does.
        """
        if self.publisher is not None:
            terminate(self.publisher)
            self.publisher = None

    def stop(self) -> None:
        self.kill_publisher()
        if self.server is not None:
            terminate(self.server)
            self.server = None


def make_camera_clip(path: Path, *, fps: int = 25, gop: int = 25, seconds: float = 10.0, size: str = "320x240") -> Path:
    """Write an H.264 clip shaped like a camera's stream: ``fps`` frames a second, a keyframe every ``gop`` frames,
    no B-frames (cameras send none), a moving test pattern so every frame differs."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}", "-t", f"{seconds:g}",
         "-c:v", "libx264", "-preset", "veryfast", "-g", str(gop), "-keyint_min", str(gop), "-bf", "0",
         "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )  # fmt: skip
    return path
