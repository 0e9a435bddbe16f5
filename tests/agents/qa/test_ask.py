"""Asking questions: retrieval from the memory and the rolling buffer, frame selection within a budget, and
an ask served by a running service over both."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from agents import MomentMemory, Service, validate_config
from agents.memory import Keyframe, Moment
from agents.qa.retrieval import Candidate, buffer_candidates, memory_candidates, merge_candidates
from agents.qa.selection import TimeSelection
from agents.qa.timeparse import QuestionFilter
from streamer import Frame, FrameBuffer, OverflowPolicy, encode_jpeg
from tests.helpers import PERSON_CLIP, scaled, wait_until

T0 = 1_700_000_000.0


def _image(value: int) -> NDArray[np.uint8]:
    return np.full((48, 64, 3), value, dtype=np.uint8)


def _memory(folder: Path) -> MomentMemory:
    """Three remembered moments on two cameras, each with a thumbnail on disk."""
    memory = MomentMemory(folder)
    moments = [("porch", 100, "a person"), ("yard", 300, "a car"), ("porch", 500, "a dog")]
    for i, (camera, start, text) in enumerate(moments):
        thumb = memory.save_snapshot(f"m{i}", encode_jpeg(_image(40 * (i + 1))))
        moment = Moment(f"m{i}", camera, T0 + start, T0 + start + 20, start, start + 20, "activity", False,
                        3.0 + i, {f"q{i}": 3.0 + i}, {f"q{i}": text}, thumb)  # fmt: skip
        memory.add(moment, [Keyframe(T0 + start + 5, start + 5, thumb)])
    return memory


async def _buffers() -> dict[str, FrameBuffer]:
    """Two cameras' buffers: 60 frames each at 1 fps, from T0+480 to T0+539."""
    buffers = {}
    for camera in ("porch", "yard"):
        buf = FrameBuffer(camera, max_seconds=600, max_bytes=10**9, policy=OverflowPolicy.DROP_OLDEST)
        for k in range(60):
            await buf.put(Frame(camera, k, float(k), T0 + 480 + k, _image(k), encode_jpeg(_image(k))))
        buffers[camera] = buf
    return buffers


def _asked(since: float | None = None, until: float | None = None, camera: str | None = None) -> QuestionFilter:
    tz = datetime.now().astimezone().tzinfo
    return QuestionFilter(
        datetime.fromtimestamp(since, tz) if since is not None else None,
        datetime.fromtimestamp(until, tz) if until is not None else None,
        camera,
        "a person",
    )


async def test_memory_and_buffer_candidates_merge_in_time_order(tmp_path: Path) -> None:
    buffers = await _buffers()
    with _memory(tmp_path / "memory") as memory:
        asked = _asked()
        remembered = memory_candidates(asked, memory)
        buffered = buffer_candidates(asked, buffers, per_camera=10)
        merged = merge_candidates(remembered, buffered)
        # Remembered moments come best first: the one whose query shares the question's words leads.
        assert [c.moment.id for c in remembered if c.moment] == ["m0", "m2", "m1"]
        assert remembered[0].wall == T0 + 105  # the keyframe's time, not the moment's start
        # Ten evenly spread frames per camera, the first and the last buffered frame included.
        porch = [c.wall - T0 for c in buffered if c.camera == "porch"]
        assert len(porch) == 10 and porch[0] == 480 and porch[-1] == 539
        # One list in time order; the porch frame at T0+505 is the remembered keyframe of m2 and is dropped.
        assert [c.wall for c in merged] == sorted(c.wall for c in merged)
        assert {c.source for c in merged} == {"memory", "buffer"}
        assert not any(c.source == "buffer" and c.camera == "porch" and c.wall == T0 + 505 for c in merged)
        assert len(merged) == 3 + 20 - sum(1 for c in buffered if c.camera == "porch" and c.wall == T0 + 505)

        # The question's filters apply to both sources.
        only_porch = merge_candidates(
            memory_candidates(_asked(camera="porch"), memory),
            buffer_candidates(_asked(camera="porch"), buffers),
        )
        assert {c.camera for c in only_porch} == {"porch"}
        window = _asked(since=T0 + 510, until=T0 + 520)
        late = merge_candidates(memory_candidates(window, memory), buffer_candidates(window, buffers, per_camera=100))
        assert late and all(T0 + 510 <= c.wall <= T0 + 520 for c in late if c.source == "buffer")
        assert [c.moment.id for c in late if c.moment] == ["m2"]  # the only moment overlapping 510-520
        assert sum(c.source == "buffer" for c in late) == 2 * 11
        # Pixels: a remembered candidate reads its thumbnail; a buffered one has its own, or its JPEG when large.
        assert remembered[0].pixels() is not None
        frame = next(c for c in buffered if c.source == "buffer")
        assert frame.pixels() is frame.image and frame.pixels(large=True) is not None


def _candidates(n: int) -> list[Candidate]:
    return [Candidate("cam", T0 + i, "buffer", prior=float((i * 7) % n), image=_image(i)) for i in range(n)]


def test_time_selection_keeps_the_best_within_the_budget_in_time_order() -> None:
    candidates = _candidates(20)
    picked = TimeSelection().select("anything", candidates, 4)
    chosen = picked.chosen
    assert len(chosen) == 4 and picked.how == "time" and not picked.graded
    assert [s.candidate.wall for s in chosen] == sorted(s.candidate.wall for s in chosen)
    assert sorted(s.relevance for s in chosen) == [16.0, 17.0, 18.0, 19.0]
    assert TimeSelection().select("anything", candidates[:2], 4) == TimeSelection().select("x", candidates[:2], 4)
    assert len(TimeSelection().select("anything", candidates[:2], 4).chosen) == 2  # fewer candidates than the budget


@pytest.mark.slow
async def test_running_service_answers_from_its_buffer_and_memory(tmp_path: Path, media: Path) -> None:
    """A camera paced at real time: an ask while it runs cites recent buffered frames, with thumbnails on disk."""
    config = validate_config(
        {
            "cameras": [{"id": "lobby", "url": str(PERSON_CLIP), "realtime": True}],
            "queries": [{"id": "person", "text": "a person"}],
            "scorer": {"backend": "activity"},
            "memory": {"path": str(tmp_path / "memory")},
        }
    )
    service = Service(config, retry=False)
    task = asyncio.create_task(service.run())
    try:
        await wait_until(lambda: service.scheduler is not None and service.camera_reports()[0].buffer_frames >= 8)
        answer = await service.ask("what happened on the lobby camera in the last 5 minutes?", limit=4)
    finally:
        service.stop()
        await asyncio.wait_for(task, scaled(30))
    assert answer.filters["camera"] == "lobby" and answer.filters["since"] is not None
    assert answer.candidates["buffer"] >= 5
    buffered = [c for c in answer.citations if c.source == "buffer"]
    assert buffered and len(answer.citations) <= 4
    for c in buffered:
        assert c.thumbnail is not None and Path(c.thumbnail).is_file()
        assert Path(c.thumbnail).parent == tmp_path / "memory" / "asked"
    assert "rolling buffer" in answer.text and "No answering model is configured" in answer.text
    assert set(answer.timings_ms) == {"parse", "retrieve", "select", "answer"}
    cited = answer.to_dict()["citations"]
    assert isinstance(cited, list) and {c["source"] for c in cited} <= {"memory", "buffer"}
