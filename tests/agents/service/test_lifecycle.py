"""The service's lifecycle: what runs where while it starts and stops."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from agents import MomentMemory, Service, validate_config
from tests.helpers import SHORT_CLIP


async def test_the_memory_closes_off_the_event_loop(
    tmp_path: Path, media: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closing the memory fsyncs the vector checkpoint and SQLite: never on the loop, where it would stall every
    other stage at shutdown."""
    closed_in: list[threading.Thread] = []
    real = MomentMemory.close

    def spy(self: MomentMemory) -> None:
        closed_in.append(threading.current_thread())
        real(self)

    monkeypatch.setattr(MomentMemory, "close", spy)
    config = validate_config(
        {
            "cameras": [{"id": "cam", "url": str(SHORT_CLIP)}],
            "queries": [{"id": "q", "text": "a person"}],
            "scorer": {"backend": "activity"},
            "memory": {"path": str(tmp_path / "memory")},
        }
    )
    report = await Service(config, retry=False).run()
    assert report.cameras[0].status == "ended"
    assert len(closed_in) == 1 and closed_in[0] is not threading.current_thread()
