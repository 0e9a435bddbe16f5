"""The GenS backend: a video LLM that names the frames relevant to a question and grades them 1-5.

feedwatch runs ``yaolily/GenS-qwen2d5-vl-3b`` (Qwen2.5-VL-3B fine-tuned as a frame sampler) as its authors'
inference does: the window as one video at 1 fps through the checkpoint's chat template, frames within a
112x112-pixel budget with their aspect ratio kept, the 3B instruction and then ``Question: ...``, greedy
decoding under the checkpoint's generation config, at most 128 new tokens. The model answers in seconds of
that 1 fps video, so an answer is mapped back by frame index, whatever the camera's real spacing.

The Aria-based ``yaolily/GenS`` is another architecture (the authors' ``yi_vl`` model code, registered by hand,
with its own tokenizer and image processor): feedwatch refuses it with a clear error rather than half-run it.
"""

from __future__ import annotations

import importlib
import inspect
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from streamer.errors import ModelError
from streamer.frames import Frame, Window

from ..config import GensSettings
from ..models import (
    FaultKind,
    ModelFault,
    attention_implementation,
    fault_of,
    pick_device,
    require_weights,
    torch_dtype,
)
from ..models.qwen_vl import QwenVision, chat_template
from .base import Grades, Query, ScorerBase, WindowScores
from .gens_output import grades_for_offsets, parse_entries

__all__ = ["GENS_3B_INSTRUCTION", "GensScorer", "checkpoint_type", "common_size", "gens_prompt", "refuse_unsupported"]

log = logging.getLogger(__name__)

# An interface constant: the 3B checkpoint was trained on these exact bytes, as its public inference wrapper writes
# them (a triple-quoted string, so its line breaks, indentation and trailing newline are part of it).
GENS_3B_INSTRUCTION = (
    "Please identify the video frames most relevant to the given question and provide \n"
    "              their timestamps in seconds along with a relevance score. The score should be on a \n"
    "              scale from 1 to 5, where higher scores indicate greater relevance. Return the output \n"
    '              strictly in the following JSON format: {"timestamp (Only "Number - Number")": score, ...}.\n'
    "            "
)

FPS = 1.0  # GenS reads its windows as 1 fps video: frame k is second k
_GENS_TYPES = frozenset({"qwen2_5_vl"})


def gens_prompt(question: str) -> str:
    """The text of the user turn, after the video: the 3B instruction, then the question."""
    return f"{GENS_3B_INSTRUCTION}\nQuestion: {question}"


def checkpoint_type(folder: Any) -> str:
    """``model_type`` from a checkpoint's ``config.json`` (read directly: the Aria-based GenS is not a model type
    transformers knows)."""
    try:
        return str(json.loads((folder / "config.json").read_text()).get("model_type", ""))
    except (OSError, ValueError) as exc:
        raise ModelError(f"GenS: cannot read {folder / 'config.json'}: {exc}") from exc


def refuse_unsupported(folder: Any, model: str) -> None:
    """A clear error for any checkpoint that is not the Qwen2.5-VL GenS."""
    kind = checkpoint_type(folder)
    if kind in _GENS_TYPES:
        return
    if kind == "yi_vl":
        raise ModelError(
            f"GenS: {model} is the Aria-based GenS (model type 'yi_vl'), which runs only with its authors' own model "
            "code, tokenizer and image processor; feedwatch runs yaolily/GenS-qwen2d5-vl-3b (set scorer.gens.model "
            "to it, 'feedwatch models pull gens' fetches it), locally or behind an OpenAI-compatible server such as "
            "vLLM (scorer.backend: openai)"
        )
    raise ModelError(
        f"GenS: {model} is a {kind or 'unknown'} checkpoint, not GenS; feedwatch runs yaolily/GenS-qwen2d5-vl-3b "
        "(a Qwen2.5-VL checkpoint)"
    )


@dataclass(frozen=True, slots=True)
class _Prompt:
    inputs: dict[str, Any]


class GensScorer(ScorerBase):
    """Score windows with the GenS-3B checkpoint through transformers (``from_pretrained`` on a local folder)."""

    name = "gens"
    semantic = True
    windowed = True
    max_frames = 32  # frames graded in one pass when picking frames for an answer
    input_size = 224  # frames arrive at most this long; the model then sees them within its pixel budget

    def __init__(self, settings: GensSettings | None = None) -> None:
        import torch

        tf: Any = importlib.import_module("transformers")
        self.settings = settings or GensSettings()
        folder = require_weights(self.settings.model, "GenS")
        refuse_unsupported(folder, self.settings.model)
        self.device = pick_device(self.settings.device)
        try:
            self.model: Any = tf.AutoModelForImageTextToText.from_pretrained(
                folder,
                dtype=torch_dtype(self.device),
                attn_implementation=attention_implementation(self.device, self.settings.attention),
            ).to(self.device)
            self.model.eval()
            self.tokenizer: Any = tf.AutoTokenizer.from_pretrained(folder)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"GenS: cannot load {folder}: {exc}") from exc
        self.vision = QwenVision.from_folder(folder)
        self.template = chat_template(folder, self.tokenizer)
        self._torch = torch
        forward = inspect.signature(self.model.forward).parameters
        if "mm_token_type_ids" not in forward:
            raise ModelError(
                "GenS: this transformers computes Qwen2.5-VL positions without mm_token_type_ids; install the tested "
                "range (pip install 'feedwatch[models]')"
            )
        self.grader = self
        self.generated_tokens = 0  # new tokens generated so far, for throughput figures
        log.info("GenS loaded from %s on %s", folder, self.device)

    def close(self) -> None:
        del self.model
        if self.device.startswith("cuda"):
            self._torch.cuda.empty_cache()
        return None

    # -- scoring ------------------------------------------------------------------------------

    def score(self, window: Window, queries: list[Query]) -> WindowScores:
        """Every query of a window in one batched generate call (the frames are encoded per row)."""
        t0 = time.perf_counter()
        answers = self.generate_batch(window, [q.text for q in queries])
        offsets = _seconds(window)
        scores: dict[str, NDArray[np.float32]] = {}
        for query, text in zip(queries, answers, strict=True):
            scores[query.id] = grades_for_offsets(parse_entries(text), offsets).scores
            log.debug("GenS on %s for %r: %s", window.camera, query.text, text)
        return WindowScores(window, self.name, scores, semantic=True, latency_s=time.perf_counter() - t0)

    def grade(self, images: Sequence[NDArray[np.uint8]], question: str) -> Grades:
        """Grade any frames against ``question``: GenS reads them as a 1 fps sequence, frame k at second k."""
        frames = tuple(Frame("ask", k, float(k), float(k), common_size(images, k)) for k in range(len(images)))
        window = Window("ask", frames)
        return grades_for_offsets(parse_entries(self.generate(window, question)), _seconds(window))

    def generate(self, window: Window, question: str) -> str:
        """GenS's raw answer for one window and question (greedy, capped)."""
        return self.generate_batch(window, [question])[0]

    def generate_batch(self, window: Window, questions: list[str]) -> list[str]:
        """GenS's raw answers for one window and several questions, left-padded into one batch. Out of device memory,
        the batch is halved and tried once more before it counts as a fault."""
        try:
            return self._generate(window, questions)
        except ModelFault as fault:
            if fault.kind is not FaultKind.OUT_OF_MEMORY or len(questions) < 2:
                raise
            half = len(questions) // 2
            log.warning("GenS: out of memory on %d questions; trying them in two halves", len(questions))
            return self._generate(window, questions[:half]) + self._generate(window, questions[half:])

    def _generate(self, window: Window, questions: list[str]) -> list[str]:
        torch = self._torch
        prompts = [self.inputs(window, q) for q in questions]
        inputs = _collate([p.inputs for p in prompts], self._pad_id())
        try:
            inputs = {k: v.to(self.device) if hasattr(v, "to") else v for k, v in inputs.items()}
            inputs["pixel_values_videos"] = inputs["pixel_values_videos"].to(torch_dtype(self.device))
            with torch.inference_mode():
                out = self.model.generate(
                    **inputs, max_new_tokens=self.settings.max_new_tokens, do_sample=False, pad_token_id=self._pad_id()
                )
        except (RuntimeError, ValueError) as exc:  # torch's OutOfMemoryError is a RuntimeError
            fault = fault_of(exc, "GenS generation failed")
            if fault.kind is FaultKind.OUT_OF_MEMORY and self.device.startswith("cuda"):
                torch.cuda.empty_cache()
            raise fault from exc
        start = inputs["input_ids"].shape[1]
        new = out[:, start:]
        self.generated_tokens += int((new != self._pad_id()).sum())
        return [str(self.tokenizer.decode(row, skip_special_tokens=True)) for row in new]

    def _pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return int(pad if pad is not None else self.tokenizer.eos_token_id)

    # -- the input layout ---------------------------------------------------------------------

    def inputs(self, window: Window, question: str) -> _Prompt:
        """The model inputs for one window and question, as the official processor builds them."""
        torch = self._torch
        images = [f.image for f in window.frames]
        frames = np.stack([common_size(images, k, like=-1) for k in range(len(images))])  # the newest frames' size
        pixels, grid = self.vision.video(frames, max_pixels=self.settings.max_frame_pixels)
        messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": gens_prompt(question)}]}]
        chat = str(
            self.tokenizer.apply_chat_template(
                messages, chat_template=self.template, tokenize=False, add_generation_prompt=True
            )
        )
        if chat.count("<|video_pad|>") != 1:
            raise ModelError("GenS: the chat template did not place exactly one video in the prompt")
        n_tokens = self.vision.tokens(grid)
        ids = self.tokenizer(chat.replace("<|video_pad|>", "<|video_pad|>" * n_tokens), return_tensors="pt")
        video_id = self.model.config.video_token_id
        if int((ids["input_ids"] == video_id).sum()) != n_tokens:
            raise ModelError("GenS: the tokenizer does not map <|video_pad|> to the model's video token")
        return _Prompt(
            {
                "input_ids": ids["input_ids"],
                "attention_mask": ids["attention_mask"],
                "mm_token_type_ids": (ids["input_ids"] == video_id).to(torch.int64) * 2,  # 2: video
                "pixel_values_videos": torch.from_numpy(pixels),
                "video_grid_thw": torch.tensor([grid], dtype=torch.long),
                "second_per_grid_ts": torch.tensor([self.vision.temporal_patch_size / FPS]),
            }
        )


def _seconds(window: Window) -> list[float]:
    """Where GenS sees each frame of a window: frame k at second k (it reads the window as 1 fps video)."""
    return [float(k) for k in range(len(window.frames))]


def common_size(images: Sequence[NDArray[np.uint8]], k: int, like: int = 0) -> NDArray[np.uint8]:
    """Frame ``k``, at the size of frame ``like`` (a video has one frame size; a camera's resolution may change on
    a reconnect, and an answer's candidates come from anywhere)."""
    image, first = images[k], images[like]
    if image.shape == first.shape:
        return image
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((first.shape[1], first.shape[0]), Image.Resampling.BICUBIC))


def _collate(rows: list[dict[str, Any]], pad_id: int) -> dict[str, Any]:
    """Left-pad token rows to one length and stack the vision tensors of every row."""
    import torch

    if len(rows) == 1:
        return dict(rows[0])
    width = max(int(r["input_ids"].shape[1]) for r in rows)
    out: dict[str, Any] = {}
    for key in ("input_ids", "attention_mask", "mm_token_type_ids"):
        fill = pad_id if key == "input_ids" else 0
        padded = []
        for r in rows:
            t = r[key]
            pad = torch.full((1, width - t.shape[1]), fill, dtype=t.dtype)
            padded.append(torch.cat([pad, t], dim=1))
        out[key] = torch.cat(padded, dim=0)
    for key in ("pixel_values_videos", "video_grid_thw", "second_per_grid_ts"):
        out[key] = torch.cat([r[key] for r in rows], dim=0)
    return out
