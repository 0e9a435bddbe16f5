"""The CLIP/SigLIP backend as real checkpoints use it: SigLIP loads, and the whole camera frame is seen."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers", reason="the model stack is not installed (pip install 'feedwatch[models]')")

from agents.config import EmbeddingSettings
from agents.models.random_init import build_random_clip, build_random_siglip
from agents.scoring.embedding import EmbeddingScorer


def test_a_siglip_checkpoint_loads_and_embeds(tmp_path: Path) -> None:
    """SigLIP has no projection_dim: the embedding size comes from the model itself."""
    scorer = EmbeddingScorer(EmbeddingSettings(model=str(build_random_siglip(tmp_path / "siglip"))))
    assert scorer.dim == 32 and scorer.input_size == 32
    texts = scorer.embed_texts(["a person", "a car parks in the driveway"])
    images = scorer.embed_images([np.zeros((18, 32, 3), np.uint8), np.full((32, 18, 3), 200, np.uint8)])
    assert texts.shape == (2, 32) and images.shape == (2, 32)
    np.testing.assert_allclose(np.linalg.norm(images, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("builder", [build_random_clip, build_random_siglip])
def test_the_edges_of_a_wide_frame_are_seen(tmp_path: Path, builder: object) -> None:
    """Something in the leftmost sixth of a 16:9 frame changes what the model sees (a centre crop would cut it)."""
    scorer = EmbeddingScorer(EmbeddingSettings(model=str(builder(tmp_path / "model"))))  # type: ignore[operator]
    side = scorer.input_size
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (side * 9 // 16, side, 3), dtype=np.uint8)
    edge = frame.copy()
    edge[:, : side // 6] = 255 - edge[:, : side // 6]  # someone at the left edge
    a, b = scorer.embed_images([frame, edge])
    assert float(a @ b) < 0.9999, "a change at the frame's edge did not reach the model"


def test_letterboxing_fills_with_the_processors_mean(tmp_path: Path) -> None:
    scorer = EmbeddingScorer(EmbeddingSettings(model=str(build_random_clip(tmp_path / "clip"))))
    wide = np.zeros((18, 32, 3), np.uint8)
    square = scorer.square(wide)
    assert square.shape == (32, 32, 3)
    assert tuple(square[0, 0]) == (123, 117, 104)  # CLIP's mean colour, which normalises to zero
    assert (square[7:25] == 0).all()  # the frame itself, whole, centred
