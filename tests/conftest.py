"""Shared fixtures: the real sample clips and a real mosquitto broker on a free port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.bench.common import free_port
from tests.helpers import MEDIA, PERSON_CLIP, Broker


@pytest.fixture(scope="session")
def media() -> Path:
    if not PERSON_CLIP.is_file():
        pytest.fail(f"sample clips missing: expected {PERSON_CLIP} (shared/media beside the repository)")
    return MEDIA


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    b = Broker(port, conf)
    b.start()
    try:
        yield b
    finally:
        b.stop()
