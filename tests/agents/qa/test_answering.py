"""The Qwen2.5-VL answering model: the inputs it gets give its images their 3D positions."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("transformers", reason="the model stack is not installed (pip install 'feedwatch[models]')")

from agents.config import QAConfig
from agents.models.random_init import build_random_qwen2_5_vl
from agents.qa.answering import QAFrame, QwenVideoQA


@pytest.fixture(scope="module")
def qa(tmp_path_factory: pytest.TempPathFactory) -> QwenVideoQA:
    folder = build_random_qwen2_5_vl(tmp_path_factory.mktemp("qa"))
    return QwenVideoQA(QAConfig(backend="transformers", model=str(folder), max_new_tokens=8, image_side=112))


def _frames(n: int) -> list[QAFrame]:
    rng = np.random.default_rng(2)
    return [
        QAFrame("lobby", 1.7e9 + 60 * i, rng.integers(0, 255, (63, 112, 3), dtype=np.uint8), "memory") for i in range(n)
    ]


def test_generate_gets_what_positions_the_images(qa: QwenVideoQA) -> None:
    seen: dict[str, object] = {}
    real = qa.model.generate

    def spy(**kwargs: object) -> object:
        seen.update(kwargs)
        return real(**kwargs)

    qa.model.generate = spy
    try:
        assert isinstance(qa.answer("what is on the table?", _frames(2)), str)
    finally:
        del qa.model.generate
    assert "mm_token_type_ids" in seen, "without it the model gives images flat text positions"
    inputs = qa.inputs("what is on the table?", _frames(2))
    positions, _ = qa.model.model.get_rope_index(
        inputs["input_ids"], mm_token_type_ids=inputs["mm_token_type_ids"], image_grid_thw=inputs["image_grid_thw"],
        attention_mask=inputs["attention_mask"],
    )  # fmt: skip
    image = inputs["input_ids"][0] == qa.model.config.image_token_id
    rows = positions[:, 0, image]
    assert not bool((rows[1] == rows[2]).all()), "image tokens must get distinct height and width positions"
    assert inputs["image_grid_thw"].tolist() == [[1, 4, 8], [1, 4, 8]]  # 112x63 -> 112x56: aspect kept, 28s
