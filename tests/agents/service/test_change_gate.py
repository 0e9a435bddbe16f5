"""The change gate inside the service: its counters per camera, and bursts of denser sampling on motion."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest

from agents import validate_config
from agents.api.metrics import metrics_text
from agents.config import FeedwatchConfig
from agents.service import Service
from streamer.transport.events import EventHub
from tests.helpers import PERSON_CLIP, SHORT_CLIP, scaled, wait_until

pytest.importorskip("transformers", reason="the model stack is not installed")

from agents.models.random_init import build_random_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_random_clip(tmp_path_factory.mktemp("clip"))


def _config(tmp_path: Path, clip: Path, url: Path, gate: dict[str, object], **camera: object) -> FeedwatchConfig:
    return validate_config(
        {
            "cameras": [{"id": "lobby", "url": str(url), **camera}],
            "queries": [{"id": "person", "text": "a person"}],
            "scorer": {"backend": "embedding", "embedding": {"model": str(clip)}, "gate": gate},
            "memory": {"path": str(tmp_path / "memory")},
            "mqtt": {"enabled": False},
            "http": {"enabled": False},
        }
    )


async def test_the_service_counts_what_the_gate_held(tmp_path: Path, media: Path, clip: Path) -> None:
    service = Service(_config(tmp_path, clip, PERSON_CLIP, {}), retry=False)
    report = await service.run()
    cam = report.cameras[0]
    assert report.backend == "embedding"
    assert cam.scored >= 139 and cam.model_frames + cam.held_frames == cam.scored
    assert 0 < cam.held_frames < cam.scored, "the empty room before the first visit was not held"
    text = metrics_text(service, EventHub()).decode()
    assert f'feedwatch_frames_to_model_total{{camera="lobby"}} {float(cam.model_frames)}' in text
    assert f'feedwatch_frames_held_total{{camera="lobby"}} {float(cam.held_frames)}' in text
    # Off, the model runs on every frame.
    off = await Service(_config(tmp_path / "off", clip, PERSON_CLIP, {"enabled": False}), retry=False).run()
    assert off.cameras[0].held_frames == 0 and off.cameras[0].model_frames == off.cameras[0].scored


async def test_motion_makes_a_live_camera_sample_densely(tmp_path: Path, media: Path, clip: Path) -> None:
    """At 1 fps two frames are a second apart; in a burst on motion they come a quarter second apart."""
    config = _config(tmp_path, clip, SHORT_CLIP, {"burst_fps": 4.0}, realtime=True, loop=True)
    service = Service(config, retry=True)
    task = asyncio.create_task(service.run())

    def dense() -> bool:
        cam = service.cameras.get("lobby")
        frames = cam.buffer.latest(64) if cam is not None else []
        return any(0 < b.pts - a.pts < 0.5 for a, b in itertools.pairwise(frames))

    try:
        await wait_until(dense, timeout=scaled(60), what="frames sampled closer than 1 fps")
        assert service.cameras["lobby"].rate.bursting
    finally:
        service.stop()
        await asyncio.wait_for(task, scaled(30))
