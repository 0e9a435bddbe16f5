"""HTTP progressive download and HLS, served by a real HTTP server on loopback."""

from __future__ import annotations

import functools
import http.server
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamer import FrameDecoder, SourceError, SourceOptions, probe
from tests.helpers import SHORT_CLIP


@pytest.fixture
def http_root(tmp_path: Path, media: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()
    (root / "clip.mkv").write_bytes(SHORT_CLIP.read_bytes())
    hls = root / "hls"
    hls.mkdir()
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(SHORT_CLIP), "-c", "copy", "-f", "hls", "-hls_time", "1",
         "-hls_list_size", "0", str(hls / "index.m3u8")],
        check=True,
    )  # fmt: skip

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _frames(url: str) -> list[float]:
    decoder = FrameDecoder("web", url, SourceOptions(sample_fps=0, analysis_size=160))
    return [f.pts for f in decoder.frames(threading.Event())]


def test_http_progressive_and_hls_decode_the_whole_clip(http_root: tuple[str, Path]) -> None:
    base, _ = http_root
    local = _frames(str(SHORT_CLIP))
    assert len(_frames(f"{base}/clip.mkv")) == len(local)
    hls = _frames(f"{base}/hls/index.m3u8")
    assert abs(len(hls) - len(local)) <= 1
    assert hls == sorted(hls)


def test_http_errors_are_clear(http_root: tuple[str, Path]) -> None:
    base, _ = http_root
    with pytest.raises(SourceError, match=r"not found on the server \(404\)"):
        probe(f"{base}/missing.mp4", SourceOptions(open_timeout_s=3))
