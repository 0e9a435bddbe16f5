"""The embedding backend's ONNX Runtime image tower gives the torch path's embeddings, to 1e-4."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers", reason="the model stack is not installed (pip install 'feedwatch[models]')")
pytest.importorskip("onnxruntime", reason="ONNX Runtime is not installed (pip install 'feedwatch[onnx]')")

from agents.config import EmbeddingSettings
from agents.models.random_init import build_random_clip, build_random_siglip
from agents.scoring.embedding import EmbeddingScorer
from streamer.errors import ModelError


def _frames(side: int) -> list[np.ndarray]:
    """Camera-shaped frames (16:9, 4:3, portrait, square) of textured noise, so every weight matters."""
    rng = np.random.default_rng(1)
    shapes = [(side * 9 // 16, side), (side * 3 // 4, side), (side, side * 9 // 16), (side, side), (side // 2, side)]
    return [rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for h, w in shapes]


def _compare(folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    torch_path = EmbeddingScorer(EmbeddingSettings(model=str(folder), device="cpu", runtime="torch"))
    onnx_path = EmbeddingScorer(EmbeddingSettings(model=str(folder), device="cpu", runtime="onnx"))
    assert onnx_path._onnx is not None and onnx_path._onnx.path.is_file()
    frames = _frames(torch_path.input_size)
    for batch in (frames[:1], frames):  # batch size is dynamic in the export
        ours, reference = onnx_path.embed_images(batch), torch_path.embed_images(batch)
        assert ours.shape == reference.shape
        np.testing.assert_allclose(ours, reference, atol=1e-4, rtol=0)
    # Texts stay on torch: identical by construction, and the spaces still line up.
    np.testing.assert_array_equal(onnx_path.embed_texts(["a person"]), torch_path.embed_texts(["a person"]))
    # The export is cached: a second scorer loads it instead of exporting again.
    mtime = onnx_path._onnx.path.stat().st_mtime_ns
    again = EmbeddingScorer(EmbeddingSettings(model=str(folder), device="cpu", runtime="onnx"))
    assert again._onnx is not None and again._onnx.path == onnx_path._onnx.path
    assert again._onnx.path.stat().st_mtime_ns == mtime


@pytest.mark.parametrize("builder", [build_random_clip, build_random_siglip])
def test_tiny_models_match_torch(builder: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _compare(builder(tmp_path / "model"), tmp_path, monkeypatch)  # type: ignore[operator]


@pytest.mark.slow
def test_a_real_size_clip_matches_torch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CLIP ViT-B/32 shapes (88M-parameter image tower), random weights: the export holds at real size."""
    _compare(build_random_clip(tmp_path / "clip-b32", size="base"), tmp_path, monkeypatch)


def test_a_broken_export_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A damaged cached export names the file and what to do, instead of a traceback from ONNX Runtime."""
    folder = build_random_clip(tmp_path / "model")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    scorer = EmbeddingScorer(EmbeddingSettings(model=str(folder), device="cpu", runtime="onnx"))
    assert scorer._onnx is not None
    scorer._onnx.path.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="delete it to export again"):
        EmbeddingScorer(EmbeddingSettings(model=str(folder), device="cpu", runtime="onnx"))
