from __future__ import annotations

import pytest

from streamer import redact_text, redact_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rtsp://admin:hunter2@10.0.0.5:554/stream1", "rtsp://admin:***@10.0.0.5:554/stream1"),
        ("rtsp://:hunter2@cam/x", "rtsp://***@cam/x"),
        ("https://TOKEN123@example.org/live.m3u8", "https://***@example.org/live.m3u8"),
        (
            "http://cam/video.cgi?user=bob&password=hunter2&ch=1",
            "http://cam/video.cgi?user=bob&password=***&ch=1",
        ),
        ("http://cam/snap?token=abc", "http://cam/snap?token=***"),
        ("rtsp://cam:554/stream1", "rtsp://cam:554/stream1"),
        ("/videos/front door.mp4", "/videos/front door.mp4"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_url_never_leaks_the_secret() -> None:
    for url in ("rtsp://u:p%40ss@h/s", "rtsp://u:hunter2@h:1/s?password=hunter2", "rtmp://u:hunter2@h/app"):
        assert "hunter2" not in redact_url(url)
        assert "p%40ss" not in redact_url(url)


def test_redact_text_masks_urls_inside_messages() -> None:
    msg = "Server returned 401 for 'rtsp://admin:hunter2@10.0.0.5/s' and http://x:y@h/"
    out = redact_text(msg)
    assert "hunter2" not in out
    assert "rtsp://admin:***@10.0.0.5/s" in out
    assert "http://x:***@h/" in out
