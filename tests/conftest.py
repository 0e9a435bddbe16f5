"""Shared fixtures: the real sample clips and a real mosquitto broker on a free port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import MEDIA, PERSON_CLIP, Broker


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
