"""Shared fixtures: the real sample clips, a real mosquitto broker on a free port, and a real RTSP camera."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import MEDIA, PERSON_CLIP, Broker
from tests.streamer.rtsp import PerlRtspServer


@pytest.fixture(scope="session")
def media() -> Path:
    if not PERSON_CLIP.is_file():
        pytest.fail(f"sample clips missing: expected {PERSON_CLIP} (shared/media beside the repository)")
    return MEDIA


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker.on_free_port(tmp_path)
    b.start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture
def rtsp(media: Path) -> Iterator[PerlRtspServer]:
    """The person clip, looped at its own pace, from rtsp-server-perl (UDP)."""
    server = PerlRtspServer(PERSON_CLIP)
    server.start()
    try:
        yield server
    finally:
        server.stop()
