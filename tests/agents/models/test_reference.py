"""feedwatch's model inputs are the official processors' own: proven against tests/fixtures/reference.

The fixtures were made by tests/fixtures/make_reference.py with transformers' processors and torchvision (which CI
does not have), from the same frames and texts. Token ids, grids and positions must match exactly; pixels to 1e-5
(for real footage, their random-projection sketch, to the same precision).
"""

from __future__ import annotations

import importlib
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.fixtures.frames import (
    CLIP_TEXTS,
    GENS_QUESTION,
    QA_QUESTION,
    QA_WALL,
    SKETCH_SEED,
    qa_labels,
    real_sequences,
    sketch,
)
from tests.helpers import MEDIA, ROOT

pytest.importorskip("transformers", reason="the model stack is not installed (pip install 'feedwatch[models]')")

from agents.config import EmbeddingSettings, GensSettings, QAConfig
from agents.qa.answering import QAFrame, QwenVideoQA, frame_label
from agents.scoring.embedding import EmbeddingScorer
from agents.scoring.gens import GensScorer
from streamer import Frame, Window

REFERENCE = ROOT / "tests" / "fixtures" / "reference"


@pytest.fixture(scope="module")
def ref() -> dict[str, np.ndarray]:
    with np.load(REFERENCE / "reference.npz") as data:
        loaded = {key: data[key] for key in data.files}
    assert int(loaded["sketch_seed"]) == SKETCH_SEED
    return loaded


def _checkpoint(name: str, folder: Path) -> Path:
    """The fixture's tokenizer and processor files, with random weights built from its config.json."""
    transformers: Any = importlib.import_module("transformers")
    shutil.copytree(REFERENCE / name, folder)
    config = transformers.AutoConfig.from_pretrained(folder)
    if name == "qwen":
        model = transformers.Qwen2_5_VLForConditionalGeneration(config)
    else:
        model = transformers.AutoModel.from_config(config)
    model.save_pretrained(folder)
    return folder


def _sequences(ref: dict[str, np.ndarray], use: str) -> Iterator[tuple[str, np.ndarray, bool]]:
    """(name, frames, stored in full): the synthetic frames stored in the fixture, then the real ones."""
    for key in ref:
        if key.startswith(f"frames/{use}/"):
            yield key.split("/", 2)[2], ref[key], True
    for name, frames in real_sequences(MEDIA).get(use, {}).items():
        yield name, frames, False


def _pixels(ref: dict[str, np.ndarray], key: str, ours: Any, full: bool) -> None:
    ours = ours.detach().cpu().numpy() if hasattr(ours, "detach") else np.asarray(ours)
    if full:
        assert ours.shape == ref[key].shape, key
        np.testing.assert_allclose(ours, ref[key], atol=1e-5, rtol=0, err_msg=key)
    np.testing.assert_allclose(sketch(ours), ref[f"{key}.sketch"], atol=1e-5, rtol=0, err_msg=f"{key} (sketch)")


def _exact(ref: dict[str, np.ndarray], key: str, ours: Any) -> None:
    ours = ours.detach().cpu().numpy() if hasattr(ours, "detach") else np.asarray(ours)
    assert ours.shape == ref[key].shape and (ours == ref[key]).all(), key


@pytest.fixture(scope="module")
def gens(tmp_path_factory: pytest.TempPathFactory) -> GensScorer:
    folder = _checkpoint("qwen", tmp_path_factory.mktemp("ref") / "qwen")
    return GensScorer(GensSettings(model=str(folder), max_new_tokens=8))


def test_gens_video_inputs_equal_the_official_processors(
    gens: GensScorer, ref: dict[str, np.ndarray], media: Path
) -> None:
    names = []
    for name, frames, full in _sequences(ref, "gens"):
        window = Window("cam", tuple(Frame("cam", i, float(i), float(i), f) for i, f in enumerate(frames)))
        ours = gens.inputs(window, GENS_QUESTION).inputs
        prefix = f"gens/{name}"
        for key in ("input_ids", "attention_mask", "mm_token_type_ids", "video_grid_thw"):
            _exact(ref, f"{prefix}/{key}", ours[key])
        np.testing.assert_allclose(ours["second_per_grid_ts"].numpy(), ref[f"{prefix}/second_per_grid_ts"])
        _pixels(ref, f"{prefix}/pixel_values_videos", ours["pixel_values_videos"], full)
        positions, _ = gens.model.model.get_rope_index(
            ours["input_ids"], mm_token_type_ids=ours["mm_token_type_ids"], video_grid_thw=ours["video_grid_thw"],
            second_per_grid_ts=ours["second_per_grid_ts"], attention_mask=ours["attention_mask"],
        )  # fmt: skip
        _exact(ref, f"{prefix}/position_ids", positions)
        names.append(name)
    assert len(names) == 6 and {"person-16x9", "testsrc2-portrait"} <= set(names)
    forward, backward = (ref[f"gens/testsrc2-16x9{s}/pixel_values_videos"] for s in ("", "-reversed"))
    assert not np.allclose(forward, backward), "frame order must change the video tensor"


def test_answering_model_inputs_equal_the_official_processors(
    tmp_path_factory: pytest.TempPathFactory, ref: dict[str, np.ndarray], media: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        folder = _checkpoint("qwen", tmp_path_factory.mktemp("ref") / "qa")
        qa = QwenVideoQA(QAConfig(backend="transformers", model=str(folder), image_side=448, max_new_tokens=8))
        for name, images, full in _sequences(ref, "qa"):
            frames = [QAFrame("lobby", QA_WALL + 60 * i, image, "memory") for i, image in enumerate(images)]
            assert [frame_label(i, f) for i, f in enumerate(frames)] == qa_labels(len(frames))
            ours = qa.inputs(QA_QUESTION, frames)
            prefix = f"qa/{name}"
            for key in ("input_ids", "attention_mask", "mm_token_type_ids", "image_grid_thw"):
                _exact(ref, f"{prefix}/{key}", ours[key])
            _pixels(ref, f"{prefix}/pixel_values", ours["pixel_values"], full)
            positions, _ = qa.model.model.get_rope_index(
                ours["input_ids"], mm_token_type_ids=ours["mm_token_type_ids"], image_grid_thw=ours["image_grid_thw"],
                attention_mask=ours["attention_mask"],
            )  # fmt: skip
            _exact(ref, f"{prefix}/position_ids", positions)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


@pytest.mark.parametrize("kind", ["clip", "siglip"])
def test_dual_tower_inputs_equal_the_official_processors(
    kind: str, tmp_path_factory: pytest.TempPathFactory, ref: dict[str, np.ndarray], media: Path
) -> None:
    folder = _checkpoint(kind, tmp_path_factory.mktemp("ref") / kind)
    scorer = EmbeddingScorer(EmbeddingSettings(model=str(folder), device="cpu"))
    texts = scorer.text_inputs(CLIP_TEXTS)
    _exact(ref, f"{kind}/text/input_ids", texts["input_ids"])
    if f"{kind}/text/attention_mask" in ref:
        _exact(ref, f"{kind}/text/attention_mask", texts["attention_mask"])
    seen = 0
    for name, frames, full in _sequences(ref, kind):
        _pixels(ref, f"{kind}/{name}/pixel_values", scorer.image_inputs(list(frames)), full)
        seen += 1
    assert seen == 2
