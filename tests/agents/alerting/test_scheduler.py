"""The scheduler with a real (tiny, random) embedding model: what reaches the memory from a long alert."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from agents.alerting import Alert, AlertKind, ContextKeyframe, Scheduler
from agents.config import AlertSettings
from agents.scoring import Query
from streamer import Frame, FrameBuffer, OverflowPolicy

pytest.importorskip("transformers", reason="the model stack is not installed")

from agents.config import EmbeddingSettings
from agents.models.random_init import build_random_clip
from agents.scoring.embedding import EmbeddingScorer
from tests.helpers import scaled


@pytest.mark.slow
async def test_a_long_alert_keeps_its_peak_frames_embedding(tmp_path: Path) -> None:
    """An alert open for far longer than any frame cache still hands its peak frame's embedding to the memory."""
    scorer = EmbeddingScorer(EmbeddingSettings(model=str(build_random_clip(tmp_path / "clip"))))
    buf = FrameBuffer("cam", max_seconds=10_000, max_bytes=10**9, policy=OverflowPolicy.BLOCK)
    events: list[Alert] = []

    async def collect(event: Alert | ContextKeyframe) -> None:
        if isinstance(event, Alert):
            events.append(event)

    # Threshold 1: the alert opens on the first frame and stays open; the scene never changes, so the first frame
    # stays its peak while 1200 more frames go by.
    query = Query("q", "a person", threshold=1.0)
    scheduler = Scheduler(scorer, {"cam": buf}, [query], AlertSettings(hysteresis=0.0), collect)
    task = asyncio.create_task(scheduler.run())
    image = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    for seq in range(1200):
        await buf.put(Frame("cam", seq, float(seq), 1000.0 + seq, image))
        scheduler.notify()
    await buf.close()
    scheduler.notify()
    await asyncio.wait_for(task, scaled(120))
    end = [a for a in events if a.kind is AlertKind.END]
    assert len(end) == 1 and end[0].peak_seq == 0 and end[0].end_pts == 1199.0
    assert end[0].peak_embedding is not None
    np.testing.assert_allclose(end[0].peak_embedding, scorer.embed_images([image])[0], atol=1e-5)
