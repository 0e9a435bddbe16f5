"""What an ask holds while it runs: the inference limiter only around the scorer's model calls."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import numpy as np
import pytest

from agents.memory import Keyframe, Moment, MomentMemory
from agents.qa import Asker, QAFrame
from agents.scoring import InferenceLimiter
from streamer import encode_jpeg
from tests.helpers import wait_until

pytest.importorskip("transformers", reason="the model stack is not installed")

from agents.config import EmbeddingSettings
from agents.models.random_init import build_random_clip
from agents.qa.selection import EmbeddingSelection
from agents.scoring.embedding import EmbeddingScorer

T0 = 1_700_000_000.0


class FakeAnswerer:
    """A fake answering model (nothing of the kind can run here at speed): it records whether the inference limiter
    was held while it generated, and answers with a fixed text."""

    name = "fake"

    def __init__(self, limiter: InferenceLimiter) -> None:
        self.limiter = limiter
        self.held: list[int] = []

    def answer(self, question: str, frames: list[QAFrame]) -> str:
        self.held.append(self.limiter.running)
        return f"{len(frames)} frame(s) seen"


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> EmbeddingScorer:
    return EmbeddingScorer(EmbeddingSettings(model=str(build_random_clip(tmp_path_factory.mktemp("clip")))))


def _memory(folder: Path, clip: EmbeddingScorer) -> MomentMemory:
    memory = MomentMemory(folder)
    rng = np.random.default_rng(0)
    for i in range(6):
        image = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
        thumb = memory.save_snapshot(f"m{i}", encode_jpeg(image))
        moment = Moment(f"m{i}", "porch", T0 + 60 * i, T0 + 60 * i + 5, 60.0 * i, 60.0 * i + 5, "embedding", True,
                        4.0, {"q": 4.0}, {"q": "a person"}, thumb)  # fmt: skip
        memory.add(moment, [Keyframe(T0 + 60 * i, 60.0 * i, thumb, clip.embed_images([image])[0])])
    return memory


async def test_answer_generation_does_not_hold_the_inference_limiter(tmp_path: Path, clip: EmbeddingScorer) -> None:
    limiter = InferenceLimiter()
    answerer = FakeAnswerer(limiter)
    with _memory(tmp_path / "memory", clip) as memory:
        asker = Asker(memory, selection=EmbeddingSelection(clip), answerer=answerer, limiter=limiter, budget=3)
        answer = await asker.ask("a person on the porch")
    assert answer.text == "3 frame(s) seen" and len(answer.citations) == 3
    assert limiter.calls == 2  # the question's embedding for memory search, then the ranking
    assert answerer.held == [0], "the answering model ran while the scorer's limiter was held"


async def test_model_calls_of_an_ask_wait_for_the_limiter(tmp_path: Path, clip: EmbeddingScorer) -> None:
    """While live scoring holds the limiter, an ask's embedding waits its turn instead of running beside it."""
    limiter = InferenceLimiter()
    with _memory(tmp_path / "memory", clip) as memory:
        asker = Asker(memory, selection=EmbeddingSelection(clip), limiter=limiter)
        release = threading.Event()
        scoring = asyncio.create_task(limiter.run(release.wait))  # a long scoring call holds the limiter
        await wait_until(lambda: limiter.running == 1, what="the scoring call")
        ask = asyncio.create_task(asker.ask("a person"))
        await wait_until(lambda: limiter.waiting == 1 or ask.done(), what="the ask to reach the limiter")
        assert not ask.done()
        release.set()
        answer = await ask
        await scoring
    assert answer.citations
