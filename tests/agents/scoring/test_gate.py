"""The change gate in front of real model backends: what reaches the model, and what is carried instead."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers", reason="the model stack is not installed (pip install 'feedwatch[models]')")

from agents.config import EmbeddingSettings, GateSettings, GensSettings
from agents.models.random_init import build_random_clip, build_random_qwen2_5_vl
from agents.scoring import MIN_SCORE, GatedScorer, Query, ScoreJob, Scorer, WindowScores
from agents.scoring.embedding import EmbeddingScorer
from agents.scoring.gens import GensScorer
from streamer.frames import Frame, Window

_RNG = np.random.default_rng(0)
_SCENE = _RNG.integers(40, 200, (63, 112, 3), dtype=np.uint8)  # a still, textured scene
QUERIES = [Query("person", "a person"), Query("car", "a car")]


def _frame(seq: int, *, box_at: int | None = None, first: bool = False, camera: str = "door") -> Frame:
    image = _SCENE.copy()
    if box_at is not None:  # someone walks in: a bright block at a new place each time
        image[10:40, box_at : box_at + 12] = 255
    return Frame(camera, seq, float(seq), 1000.0 + seq, image, first=first)


class Spy:
    """Records which frames the real backend was handed, then lets it score them."""

    def __init__(self, inner: Scorer) -> None:
        self.inner = inner
        self.windows: list[Window] = []
        self.calls: list[int] = []  # jobs per call
        original = inner.score_batch

        def score_batch(jobs: Sequence[ScoreJob]) -> list[WindowScores]:
            self.windows += [w for w, _ in jobs]
            self.calls.append(len(jobs))
            return original(jobs)

        inner.score_batch = score_batch  # type: ignore[method-assign]

    @property
    def seqs(self) -> list[int]:
        return [f.seq for w in self.windows for f in w.new_frames]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_random_clip(tmp_path_factory.mktemp("clip"))


def _gated(clip: Path, **settings: float) -> tuple[GatedScorer, Spy]:
    inner = EmbeddingScorer(EmbeddingSettings(model=str(clip)))
    spy = Spy(inner)
    return GatedScorer(inner, GateSettings(**settings)), spy  # type: ignore[arg-type]


def _score(gate: GatedScorer, frames: list[Frame]) -> WindowScores:
    return gate.score(Window(frames[0].camera, tuple(frames)), QUERIES)


def test_a_still_scene_is_held_and_its_scores_fade(clip: Path) -> None:
    gate, spy = _gated(clip, decay_per_s=0.9, refresh_s=100)
    first = _score(gate, [_frame(0, first=True)])
    held = _score(gate, [_frame(i) for i in range(1, 6)])
    assert spy.seqs == [0], "the still frames reached the model"
    assert held.sent is not None and not held.sent.any() and held.model_frames == 0
    for q in QUERIES:
        last = float(first.scores[q.id][0])
        expected = [MIN_SCORE + (last - MIN_SCORE) * 0.9**i for i in range(1, 6)]
        np.testing.assert_allclose(held.scores[q.id], expected, rtol=1e-6)
    # The scene's embedding is carried with the held frames, for the memory and context keyframes.
    assert first.embeddings is not None and held.embeddings is not None
    np.testing.assert_array_equal(held.embeddings, np.repeat(first.embeddings[:1], 5, axis=0))


def test_motion_passes_and_is_reported_per_camera(clip: Path) -> None:
    gate, spy = _gated(clip)
    moved: list[str] = []
    gate.on_motion = moved.append
    _score(gate, [_frame(0, first=True)])
    result = _score(gate, [_frame(1), _frame(2, box_at=10), _frame(3, box_at=10), _frame(4, box_at=60)])
    assert spy.seqs == [0, 2, 4]  # the box appeared, stood still, moved
    assert result.sent is not None and result.sent.tolist() == [False, True, False, True]
    assert result.model_frames == 2
    assert moved == ["door", "door"]
    # A zone's view of the camera reports motion under the camera's name.
    zone, _ = _gated(clip)
    zone.on_motion = moved.append
    _score(zone, [_frame(0, first=True, camera="door#porch")])
    _score(zone, [_frame(1, box_at=30, camera="door#porch")])
    assert moved[-1] == "door"


def test_never_holds_a_sessions_first_frame_a_new_query_or_a_long_still_scene(clip: Path) -> None:
    gate, spy = _gated(clip, refresh_s=5)
    _score(gate, [_frame(0, first=True)])
    _score(gate, [_frame(1), _frame(2, first=True)])  # a reconnect shows the same scene: scored anyway
    assert spy.seqs == [0, 2]
    gate.score(Window("door", (_frame(3),)), [*QUERIES, Query("dog", "a dog")])  # a query the view has no score for
    assert spy.seqs == [0, 2, 3]
    _score(gate, [_frame(i) for i in range(4, 10)])  # still; refreshed 5 s after the last frame the model saw
    assert spy.seqs == [0, 2, 3, 8]


def test_cameras_are_still_batched_into_one_pass(clip: Path) -> None:
    gate, spy = _gated(clip)
    jobs = [(Window(cam, (_frame(0, first=True, camera=cam),)), QUERIES) for cam in ("a", "b", "c")]
    gate.score_batch(jobs)
    assert len(spy.windows) == 3 and [w.camera for w in spy.windows] == ["a", "b", "c"]
    moving = [(Window(cam, (_frame(1, box_at=20, camera=cam),)), QUERIES) for cam in ("a", "b", "c")]
    gate.score_batch(moving)
    assert len(spy.windows) == 6, "the cameras that changed were not scored"
    assert spy.calls == [3, 3], "the cameras were not scored in one call"


def test_a_windowed_backend_reuses_a_still_windows_scores(tmp_path: Path) -> None:
    """GenS reads windows as sequences: a window with no change is not generated again, one with a change is whole."""
    gens = GensScorer(GensSettings(model=str(build_random_qwen2_5_vl(tmp_path / "qwen")), max_new_tokens=8))
    spy = Spy(gens)
    gate = GatedScorer(gens, GateSettings(refresh_s=100))
    frames = [_frame(0, first=True), *(_frame(i) for i in range(1, 12)), _frame(12, box_at=50)]
    first = gate.score(Window("door", tuple(frames[:4])), QUERIES)
    still = gate.score(Window("door", tuple(frames[:8]), new_from=4), QUERIES)
    assert len(spy.windows) == 1 and first.model_frames == 4 and still.model_frames == 0
    assert still.backend == "gens"
    for q in QUERIES:  # carried from the last scored frame, fading
        assert (still.scores[q.id][4:] <= first.scores[q.id][3] + 1e-6).all()
    changed = gate.score(Window("door", tuple(frames[5:13]), new_from=4), QUERIES)
    assert len(spy.windows) == 2 and spy.windows[1].frames == tuple(frames[5:13]), "the window was not scored whole"
    assert changed.model_frames == 4
