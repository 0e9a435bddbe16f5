"""GenS as its authors run it: the 3B checkpoint's prompt, positions and answers, on a tiny random Qwen2.5-VL.

The checkpoint is built by the test and loaded through ``from_pretrained``, as real weights are. Where a test needs
GenS to say something particular, it fakes only the model's generated text (``generate_batch``): the prompt
building, the parser and the mapping back to frames are the real ones.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from agents.scoring import Query
from streamer import Frame, ModelError, Window

pytest.importorskip("transformers", reason="the model stack is not installed (pip install 'feedwatch[models]')")

from agents.config import GensSettings
from agents.models.random_init import build_random_qwen2_5_vl
from agents.scoring.gens import GENS_3B_INSTRUCTION, GensScorer, gens_prompt


@pytest.fixture(scope="module")
def gens(tmp_path_factory: pytest.TempPathFactory) -> GensScorer:
    folder = build_random_qwen2_5_vl(tmp_path_factory.mktemp("gens"))
    return GensScorer(GensSettings(model=str(folder), max_new_tokens=8))


def _window(n: int, spacing: float = 1.0, size: tuple[int, int] = (126, 224)) -> Window:
    rng = np.random.default_rng(0)
    frames = tuple(
        Frame("cam", i, i * spacing, 1000.0 + i * spacing, rng.integers(0, 255, (*size, 3), dtype=np.uint8))
        for i in range(n)
    )
    return Window("cam", frames)


def test_instructions_keep_upstreams_exact_bytes() -> None:
    """Line breaks and indentation inside upstream's triple-quoted strings are tokens the model saw in training."""
    assert GENS_3B_INSTRUCTION.split("\n")[1].startswith("              their timestamps in seconds")
    assert GENS_3B_INSTRUCTION.endswith('{"timestamp (Only "Number - Number")": score, ...}.\n            ')
    assert gens_prompt("a dog").endswith("score, ...}.\n            \nQuestion: a dog")


def test_the_prompt_is_the_3b_layout_through_the_processors_chat_template(gens: GensScorer) -> None:
    """The video first, then the instruction and the question, in the processor's template (the checkpoint's
    tokenizer carries a text-only template that would drop the video)."""
    prompt = gens.inputs(_window(4), "a person")
    ids = prompt.inputs["input_ids"][0]
    video = gens.model.config.video_token_id
    text = gens.tokenizer.decode(ids[ids != video])
    expected_start = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
    assert text.startswith(expected_start + "<|vision_start|><|vision_end|>" + GENS_3B_INSTRUCTION)
    assert text.endswith("\nQuestion: a person<|im_end|>\n<|im_start|>assistant\n")
    assert float(prompt.inputs["second_per_grid_ts"][0]) == 2.0  # two frames a temporal patch, at 1 fps
    types = prompt.inputs["mm_token_type_ids"][0]
    assert set(types[ids == video].tolist()) == {2} and set(types[ids != video].tolist()) == {0}


def test_frames_keep_their_aspect_within_the_pixel_budget(gens: GensScorer) -> None:
    for size, grid in [
        ((126, 224), [2, 6, 10]),
        ((168, 224), [2, 6, 8]),
        ((224, 126), [2, 10, 6]),
        ((64, 64), [2, 4, 4]),
    ]:
        prompt = gens.inputs(_window(4, size=size), "q")
        assert prompt.inputs["video_grid_thw"][0].tolist() == grid, size
        h, w = grid[1] * 14, grid[2] * 14
        assert h * w <= 112 * 112 and h % 28 == 0 and w % 28 == 0


def test_answers_map_back_by_frame_index_whatever_the_sampling_rate(gens: GensScorer) -> None:
    """GenS reads a window as 1 fps video: its second 3 is the window's frame 3, even at 2 fps or with gaps."""
    gens.generate_batch = lambda window, questions: ['{"3": 5, "6-7": 4}'] * len(questions)  # type: ignore[method-assign]
    try:
        for spacing in (0.5, 1.0, 2.5):
            scores = gens.score(_window(10, spacing=spacing), [Query("q", "a person")]).scores["q"]
            assert scores.tolist() == [1, 1, 1, 5, 1, 1, 4, 4, 1, 1], spacing
    finally:
        del gens.generate_batch


def test_positions_are_three_dimensional_for_the_video(gens: GensScorer) -> None:
    """The model positions the video in time, height and width (its M-RoPE), not as flat text."""
    inputs = gens.inputs(_window(4), "q").inputs
    positions, _ = gens.model.model.get_rope_index(
        inputs["input_ids"], mm_token_type_ids=inputs["mm_token_type_ids"], video_grid_thw=inputs["video_grid_thw"],
        second_per_grid_ts=inputs["second_per_grid_ts"], attention_mask=inputs["attention_mask"],
    )  # fmt: skip
    video = inputs["input_ids"][0] == gens.model.config.video_token_id
    rows = positions[:, 0, video]
    assert not bool((rows[0] == rows[1]).all()) and not bool((rows[1] == rows[2]).all())


@pytest.mark.parametrize(("model_type", "words"), [("yi_vl", "Aria-based GenS"), ("aria", "not GenS")])
def test_other_checkpoints_are_refused_with_directions(tmp_path: Path, model_type: str, words: str) -> None:
    folder = tmp_path / model_type
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": model_type}))
    (folder / "model.safetensors").write_bytes(b"")
    with pytest.raises(ModelError, match=words) as info:
        GensScorer(GensSettings(model=str(folder)))
    assert "yaolily/GenS-qwen2d5-vl-3b" in str(info.value)
