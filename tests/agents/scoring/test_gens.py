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


def test_a_window_whose_frames_changed_size_is_scored_at_the_newest_frames_size(gens: GensScorer) -> None:
    """A camera that comes back at another resolution: its window mixes frame sizes. The older frames are brought
    to the newest frames' size first (a video has one size), exactly as if they had arrived at it."""
    before, after = _window(4, size=(126, 224)), _window(4, size=(252, 336))
    mixed = Window("cam", (*before.frames[:2], *after.frames[2:]), new_from=2)
    result = gens.score(mixed, [Query("p", "a person")])  # a real (random) generate: it runs, nothing raised
    assert result.scores["p"].shape == (4,)
    from PIL import Image

    resized = [
        Frame(
            f.camera,
            f.seq,
            f.pts,
            f.wall,
            np.asarray(Image.fromarray(f.image).resize((336, 252), Image.Resampling.BICUBIC)),
        )
        for f in before.frames[:2]
    ]
    same = Window("cam", (*resized, *after.frames[2:]), new_from=2)
    ours, expected = gens.inputs(mixed, "a person").inputs, gens.inputs(same, "a person").inputs
    assert ours.keys() == expected.keys()
    for key in ours:
        assert bool((ours[key] == expected[key]).all()), key


def test_out_of_device_memory_halves_the_batch_once_before_it_is_a_fault(
    gens: GensScorer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The device's refusal is injected where it happens, in the model's generate call; the rest is real."""
    import torch

    from agents.models import FaultKind, ModelFault

    real, sizes = gens.model.generate, []

    def generate(**inputs: object) -> object:
        rows = inputs["input_ids"].shape[0]  # type: ignore[attr-defined]
        sizes.append(rows)
        if rows > limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return real(**inputs)

    monkeypatch.setattr(gens.model, "generate", generate)
    limit = 2
    answers = gens.generate_batch(_window(2), ["a person", "a dog", "a car"])
    assert len(answers) == 3 and sizes == [3, 1, 2]
    limit, sizes[:] = 1, []
    with pytest.raises(ModelFault, match="CUDA out of memory") as info:
        gens.generate_batch(_window(2), ["a person", "a dog", "a car", "a cat"])
    assert info.value.kind is FaultKind.OUT_OF_MEMORY and sizes == [4, 2]  # halved once, then a fault
