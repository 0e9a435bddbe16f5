"""``feedwatch check SOURCE`` as a user runs it: what a stream is, and a clear reason when it cannot be opened."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from PIL import Image

from agents.bench.common import free_port
from tests.helpers import PERSON_CLIP, ROOT, run_cli
from tests.streamer.rtsp import GstRtspServer, PerlRtspServer


def test_check_a_file(tmp_path: Path) -> None:
    snap = tmp_path / "snap.jpg"
    result = run_cli("check", str(PERSON_CLIP), "-o", str(snap), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    # What ffprobe says of the clip: H.264 Main, 768x432 at 10 fps, a keyframe every second, B-frames.
    assert (report["codec"], report["width"], report["height"], report["fps"]) == ("h264", 768, 432, 10.0)
    assert report["gop_frames"] == 10 and report["gop_s"] == pytest.approx(1.0)
    assert report["b_frames"] is True and report["transport"] == "file" and report["audio"] is None
    assert 0 < report["open_s"] <= report["first_frame_s"]
    with Image.open(snap) as image:
        assert image.size == (768, 432)


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("/no/such/clip.mp4", "no such file"),
        (str(ROOT / "README.md"), "not a video"),
        (f"rtsp://admin:s3cret-pw@127.0.0.1:{free_port()}/live", "connection refused"),
        ("rtsp://cam\x01/live", "control character"),
    ],
)
def test_check_says_why_a_source_cannot_be_used(source: str, words: str, tmp_path: Path) -> None:
    result = run_cli("check", source, "-o", str(tmp_path / "s.jpg"), "--timeout", "3")
    assert result.returncode == 1
    assert words in result.stderr and "Traceback" not in result.stderr
    assert "s3cret-pw" not in result.stderr + result.stdout
    assert not (tmp_path / "s.jpg").exists()


@pytest.mark.slow
def test_check_rtsp_transports_and_a_wrong_password(
    rtsp: PerlRtspServer, secured: GstRtspServer, tmp_path: Path
) -> None:
    udp = run_cli("check", rtsp.url, "-o", str(tmp_path / "a.jpg"), "--json")
    assert udp.returncode == 0, udp.stderr
    assert json.loads(udp.stdout)["transport"] == "udp" and json.loads(udp.stdout)["codec"] == "h264"

    tcp = run_cli("check", secured.url("viewer", "correct-horse"), "--transport", "tcp", "-o", str(tmp_path / "b.jpg"))
    assert tcp.returncode == 0, tcp.stderr
    assert "transport:    tcp" in tcp.stdout and "viewer:***@" in tcp.stdout and "correct-horse" not in tcp.stdout

    wrong = run_cli(
        "check", secured.url("viewer", "wrong-battery"), "--transport", "tcp", "-o", str(tmp_path / "c.jpg")
    )
    assert wrong.returncode == 1 and "authentication failed" in wrong.stderr
    assert "wrong-battery" not in wrong.stderr


@pytest.mark.slow
def test_check_a_camera_that_never_answers_times_out(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts the connection, then says nothing (a hung camera)
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        result = run_cli("check", f"rtsp://127.0.0.1:{port}/live", "--timeout", "2", "-o", str(tmp_path / "s.jpg"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "no answer within 2 s" in result.stderr, result.stderr
