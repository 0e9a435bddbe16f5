"""Frame selection for answers with the models: GenS grading candidates, the embedding model ranking them (tiny
random checkpoints built by the tests). The model-free parts of asking are in test_ask.py, which runs without the
model stack."""

from __future__ import annotations

import numpy as np
import pytest

transformers = pytest.importorskip("transformers", reason="the model stack is not installed")


from agents.config import EmbeddingSettings, GensSettings  # noqa: E402
from agents.models.random_init import build_random_clip, build_random_qwen2_5_vl  # noqa: E402
from agents.qa.retrieval import Candidate  # noqa: E402
from agents.qa.selection import EmbeddingSelection, GensSelection, Picked, selection_for  # noqa: E402
from agents.scoring.embedding import EmbeddingScorer  # noqa: E402
from agents.scoring.gens import GensScorer  # noqa: E402
from streamer import Window  # noqa: E402
from tests.agents.qa.test_ask import T0, _candidates  # noqa: E402


@pytest.fixture(scope="module")
def gens(tmp_path_factory: pytest.TempPathFactory) -> GensScorer:
    return GensScorer(GensSettings(model=str(build_random_qwen2_5_vl(tmp_path_factory.mktemp("gens"))),
                                   max_new_tokens=12))  # fmt: skip


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> EmbeddingScorer:
    return EmbeddingScorer(EmbeddingSettings(model=str(build_random_clip(tmp_path_factory.mktemp("clip")))))


def test_gens_selection_scores_every_candidate_and_keeps_the_budget(gens: GensScorer) -> None:
    calls: list[int] = []
    real = gens.generate_batch

    def counting(window: Window, questions: list[str]) -> list[str]:
        calls.append(len(window.frames))
        return real(window, questions)

    gens.generate_batch = counting  # type: ignore[method-assign]
    try:
        picked = GensSelection(gens).select("a person at the door", _candidates(40), 3)
    finally:
        del gens.generate_batch
    assert calls == [32, 8]  # every candidate went to GenS, at most 32 frames a pass
    assert len(picked.chosen) <= 3
    assert [s.candidate.wall for s in picked.chosen] == sorted(s.candidate.wall for s in picked.chosen)
    assert isinstance(selection_for(gens), GensSelection)


class FakeGensText:
    """A fake of GenS's generated text only (one canned answer per pass, in order): the prompt building, the
    parser and the mapping back to frames are the real ones."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = list(answers)
        self.windows: list[int] = []

    def __call__(self, window: Window, questions: list[str]) -> list[str]:
        self.windows.append(len(window.frames))
        return [self.answers.pop(0) for _ in questions]


def _select_with(gens: GensScorer, answers: list[str], n: int, budget: int) -> tuple[Picked, FakeGensText]:
    fake = FakeGensText(answers)
    gens.generate_batch = fake  # type: ignore[method-assign]
    try:
        return GensSelection(gens).select("q", _candidates(n), budget), fake
    finally:
        del gens.generate_batch


def test_gens_selection_prefers_named_frames_by_grade(gens: GensScorer) -> None:
    # Candidate k is frame k of the 1 fps sequence GenS reads (40 candidates: passes of 32 and 8 frames).
    picked, fake = _select_with(gens, ['{"3": 5, "11": 4, "17": 5, "2": 2}', '{"1": 3}'], 40, 3)
    assert fake.windows == [32, 8]
    assert [s.candidate.wall - T0 for s in picked.chosen] == [3.0, 11.0, 17.0]
    assert [s.relevance for s in picked.chosen] == [5.0, 4.0, 5.0] and picked.graded and picked.how == "gens"
    # Named frames only, even one GenS grades 1: two named, budget five.
    two, _ = _select_with(gens, ['Sure. {"4": 3, "9": 1}'], 20, 5)
    assert [s.candidate.wall - T0 for s in two.chosen] == [4.0, 9.0]


def test_gens_selection_falls_back_when_gens_names_nothing(gens: GensScorer) -> None:
    """Unparseable or empty answers name no frame: the retrieval's order decides, and the answer says so."""
    picked, _ = _select_with(gens, ["I cannot tell from these frames."], 20, 2)
    assert len(picked.chosen) == 2 and not picked.graded
    assert picked.how == "gens (named no frame; retrieval order)"
    best_priors = sorted((c.prior for c in _candidates(20)), reverse=True)[:2]
    assert sorted(s.relevance for s in picked.chosen) == sorted(best_priors)


def test_embedding_selection_ranks_by_similarity_to_the_question(clip: EmbeddingScorer) -> None:
    rng = np.random.default_rng(1)
    candidates = [
        Candidate("cam", T0 + i, "buffer", image=rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)) for i in range(12)
    ]
    chosen = EmbeddingSelection(clip, batch=5).select("a red car", candidates, 4).chosen
    text = clip.embed_texts(["a red car"])[0]
    sims = clip.embed_images([c.image for c in candidates if c.image is not None]) @ text
    best = sorted(np.argsort(-sims)[:4].tolist())
    assert [int(s.candidate.wall - T0) for s in chosen] == best
    assert np.allclose([s.relevance for s in chosen], sims[best], atol=1e-5)
