"""The GenS backend: a video LLM that names the frames relevant to a question and grades them 1-5.

Two published checkpoint layouts share this backend:

- ``yaolily/GenS-qwen2d5-vl-3b`` (stock Qwen2.5-VL classes): the window goes in as one video at 1 fps,
  frames resized to 112x112; the model answers ``{"start-end": score}`` in seconds from the window start.
- ``yaolily/GenS`` (Aria-based): one image per frame, each preceded by its index ``[i]``, frames at most
  490 px; the model answers ``{"index": score}``.

Inputs are built with the tokenizer and the image processor directly (the Qwen2.5-VL processor class
needs torchvision for its video half; the layout it would build is reproduced here, tested against
the model's own token accounting). Decoding is greedy with a cap on new tokens.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from streamer.errors import ModelError
from streamer.frames import Frame, Window

from ..config import GensSettings
from ..models import attention_implementation, pick_device, require_weights, torch_dtype
from .base import Grades, Query, ScorerBase, WindowScores
from .gens_output import grades_for_offsets, parse_entries, scores_for_offsets

__all__ = ["GENS_INSTRUCTION", "GENS_QWEN_INSTRUCTION", "GensScorer"]

log = logging.getLogger(__name__)

# The instruction is an interface constant: the checkpoints were trained on these exact words.
# Source: the GenS model card and repository (yaolinli/GenS) for the Aria-based checkpoint; the
# 3B checkpoint's public inference wrapper for the "Number - Number" variant.
GENS_INSTRUCTION = (
    "Please identify the video frames most relevant to the given question and provide their timestamps in "
    "seconds along with a relevance score. The score should be on a scale from 1 to 5, where higher scores "
    "indicate greater relevance. Return the output strictly in the following JSON format: "
    '{"timestamp": score, ...}.'
)
GENS_QWEN_INSTRUCTION = GENS_INSTRUCTION.replace(
    '{"timestamp": score, ...}', '{"timestamp (Only "Number - Number")": score, ...}'
)

_QWEN_TYPES = frozenset({"qwen2_5_vl", "qwen2_vl"})
_QWEN_FRAME = 112
_ARIA_MAX_SIDE = 490
_SYSTEM = "You are a helpful assistant."


@dataclass(frozen=True, slots=True)
class _Prompt:
    inputs: dict[str, Any]
    offsets: list[float]


class GensScorer(ScorerBase):
    """Score windows with a GenS checkpoint through transformers (``from_pretrained`` on a local folder)."""

    name = "gens"
    semantic = True
    windowed = True
    max_frames = 32  # frames graded in one pass when picking frames for an answer

    def __init__(self, settings: GensSettings | None = None) -> None:
        import torch

        tf: Any = importlib.import_module("transformers")
        self.settings = settings or GensSettings()
        folder = require_weights(self.settings.model, "GenS")
        self.device = pick_device(self.settings.device)
        try:
            config = tf.AutoConfig.from_pretrained(folder, trust_remote_code=True)
            self.layout = "qwen" if config.model_type in _QWEN_TYPES else "aria"
            self.model: Any = tf.AutoModelForImageTextToText.from_pretrained(
                folder,
                dtype=torch_dtype(self.device),
                attn_implementation=attention_implementation(self.device),
                trust_remote_code=self.layout == "aria",
            ).to(self.device)
            self.model.eval()
            self.tokenizer: Any = tf.AutoTokenizer.from_pretrained(folder, trust_remote_code=self.layout == "aria")
            if self.layout == "qwen":
                pil: Any = importlib.import_module("transformers.models.qwen2_vl.image_processing_pil_qwen2_vl")
                self.image_processor: Any = pil.Qwen2VLImageProcessorPil.from_pretrained(folder)
                self.processor: Any = None
            else:
                self.processor = tf.AutoProcessor.from_pretrained(folder, trust_remote_code=True)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"GenS: cannot load {folder}: {exc}") from exc
        self.input_size = 224 if self.layout == "qwen" else _ARIA_MAX_SIDE
        self._torch = torch
        forward = inspect.signature(self.model.forward).parameters
        self._wants_token_types = "mm_token_type_ids" in forward
        self.grader = self
        log.info("GenS loaded from %s (%s layout) on %s", folder, self.layout, self.device)

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
        offsets = self._offsets(window)
        scores: dict[str, NDArray[np.float32]] = {}
        for query, text in zip(queries, answers, strict=True):
            scores[query.id] = scores_for_offsets(parse_entries(text), offsets)
            log.debug("GenS on %s for %r: %s", window.camera, query.text, text)
        return WindowScores(window, self.name, scores, semantic=True, latency_s=time.perf_counter() - t0)

    def grade(self, images: Sequence[NDArray[np.uint8]], question: str) -> Grades:
        """Grade any frames against ``question``: GenS reads them as a 1 fps sequence, frame k at second k."""
        frames = tuple(Frame("ask", k, float(k), float(k), image) for k, image in enumerate(images))
        window = Window("ask", frames)
        return grades_for_offsets(parse_entries(self.generate(window, question)), self._offsets(window))

    def generate(self, window: Window, question: str) -> str:
        """GenS's raw answer for one window and question (greedy, capped)."""
        return self.generate_batch(window, [question])[0]

    def generate_batch(self, window: Window, questions: list[str]) -> list[str]:
        """GenS's raw answers for one window and several questions, left-padded into one batch."""
        torch = self._torch
        prompts = [
            self._qwen_inputs(window, q) if self.layout == "qwen" else self._aria_inputs(window, q) for q in questions
        ]
        inputs = _collate([p.inputs for p in prompts], self._pad_id())
        inputs = {k: v.to(self.device) if hasattr(v, "to") else v for k, v in inputs.items()}
        for key in ("pixel_values_videos", "pixel_values"):
            if key in inputs:
                inputs[key] = inputs[key].to(torch_dtype(self.device))
        try:
            with torch.inference_mode():
                out = self.model.generate(
                    **inputs, max_new_tokens=self.settings.max_new_tokens, do_sample=False, pad_token_id=self._pad_id()
                )
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"GenS generation failed: {exc}") from exc
        start = inputs["input_ids"].shape[1]
        return [str(self.tokenizer.decode(row[start:], skip_special_tokens=True)) for row in out]

    def _pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return int(pad if pad is not None else self.tokenizer.eos_token_id)

    def _offsets(self, window: Window) -> list[float]:
        if self.layout == "qwen":
            return [f.pts - window.start for f in window.frames]  # the model answers in seconds
        return [float(i) for i in range(len(window.frames))]  # the model answers in frame indices

    # -- input layouts ------------------------------------------------------------------------

    def _chat(self, content: list[dict[str, str]], fallback: str) -> str:
        messages: list[dict[str, Any]] = [{"role": "user", "content": content}]
        if getattr(self.tokenizer, "chat_template", None):
            return str(self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
        return fallback

    def _qwen_inputs(self, window: Window, question: str) -> _Prompt:
        torch = self._torch
        ip = self.image_processor
        frames = np.stack(
            [
                np.asarray(Image.fromarray(f.image).resize((_QWEN_FRAME, _QWEN_FRAME), Image.Resampling.BICUBIC))
                for f in window.frames
            ]
        )
        pixels, grid = qwen_video_patches(
            frames,
            mean=np.asarray(ip.image_mean, dtype=np.float32),
            std=np.asarray(ip.image_std, dtype=np.float32),
            patch=ip.patch_size,
            merge=ip.merge_size,
            temporal=ip.temporal_patch_size,
        )
        n_tokens = int(np.prod(grid)) // ip.merge_size**2
        text = f"{GENS_QWEN_INSTRUCTION}\nQuestion: {question}"
        fallback = (
            f"<|im_start|>system\n{_SYSTEM}<|im_end|>\n<|im_start|>user\n"
            f"<|vision_start|><|video_pad|><|vision_end|>{text}<|im_end|>\n<|im_start|>assistant\n"
        )
        chat = self._chat([{"type": "video"}, {"type": "text", "text": text}], fallback)
        if chat.count("<|video_pad|>") != 1:
            raise ModelError("GenS: the chat template did not place exactly one video in the prompt")
        chat = chat.replace("<|video_pad|>", "<|video_pad|>" * n_tokens)
        ids = self.tokenizer(chat, return_tensors="pt", add_special_tokens=False)
        video_id = self.model.config.video_token_id
        if int((ids["input_ids"] == video_id).sum()) != n_tokens:
            raise ModelError("GenS: the tokenizer does not map <|video_pad|> to the model's video token")
        inputs: dict[str, Any] = {
            "input_ids": ids["input_ids"],
            "attention_mask": ids["attention_mask"],
            "pixel_values_videos": torch.from_numpy(pixels),
            "video_grid_thw": torch.tensor([grid], dtype=torch.long),
            # One temporal patch spans temporal_patch_size frames at 1 fps.
            "second_per_grid_ts": torch.tensor([float(ip.temporal_patch_size)]),
        }
        if self._wants_token_types:
            inputs["mm_token_type_ids"] = (ids["input_ids"] == video_id).to(torch.int32) * 2
        return _Prompt(inputs, self._offsets(window))

    def _aria_inputs(self, window: Window, question: str) -> _Prompt:
        images = []
        for f in window.frames:
            img = Image.fromarray(f.image)
            img.thumbnail((_ARIA_MAX_SIDE, _ARIA_MAX_SIDE))
            images.append(img)
        text = f"Question: {question}\n{GENS_INSTRUCTION}"
        content: list[dict[str, str]] = []
        for i in range(len(images)):
            content += [{"type": "text", "text": f"[{i}]"}, {"type": "image"}]
        content.append({"type": "text", "text": text})
        if getattr(self.processor, "chat_template", None):
            chat = str(
                self.processor.apply_chat_template(
                    [{"role": "user", "content": content}], tokenize=False, add_generation_prompt=True
                )
            )
        else:
            token = getattr(self.processor, "image_token", "<|img|>")
            frames = "".join(f"[{i}]{token}" for i in range(len(images)))
            chat = f"<|im_start|>user\n{frames}{text}<|im_end|>\n<|im_start|>assistant\n"
        batch = self.processor(text=chat, images=images, return_tensors="pt", max_image_size=_ARIA_MAX_SIDE)
        return _Prompt(dict(batch), self._offsets(window))


def _collate(rows: list[dict[str, Any]], pad_id: int) -> dict[str, Any]:
    """Left-pad token rows to one length and stack the vision tensors of every row."""
    import torch

    if len(rows) == 1:
        return dict(rows[0])
    width = max(int(r["input_ids"].shape[1]) for r in rows)
    out: dict[str, Any] = {}
    for key in ("input_ids", "attention_mask", "mm_token_type_ids"):
        if key not in rows[0]:
            continue
        fill = pad_id if key == "input_ids" else 0
        padded = []
        for r in rows:
            t = r[key]
            pad = torch.full((1, width - t.shape[1]), fill, dtype=t.dtype)
            padded.append(torch.cat([pad, t], dim=1))
        out[key] = torch.cat(padded, dim=0)
    for key in ("pixel_values_videos", "video_grid_thw", "second_per_grid_ts", "pixel_values", "pixel_mask"):
        if key in rows[0]:
            out[key] = torch.cat([r[key] for r in rows], dim=0)
    return out


def qwen_video_patches(
    frames: NDArray[np.uint8],
    *,
    mean: NDArray[np.float32],
    std: NDArray[np.float32],
    patch: int = 14,
    merge: int = 2,
    temporal: int = 2,
) -> tuple[NDArray[np.float32], tuple[int, int, int]]:
    """Flatten ``frames`` (T, H, W, 3) into Qwen2-VL video patches and their (t, h, w) grid.

    The same layout as transformers' Qwen2-VL video processor: pad T to a multiple of ``temporal`` by
    repeating the last frame, normalise, then order patches (t, h-blocks, w-blocks, merge rows, merge
    cols) with channels, time and pixels flattened last.
    """
    t, h, w, c = frames.shape
    if h % (patch * merge) or w % (patch * merge):
        raise ValueError(f"frame size {w}x{h} is not a multiple of {patch * merge}")
    if pad := -t % temporal:
        frames = np.concatenate([frames, np.repeat(frames[-1:], pad, axis=0)])
        t += pad
    x = (frames.astype(np.float32) / 255.0 - mean) / std  # (T, H, W, C)
    x = x.transpose(0, 3, 1, 2)  # (T, C, H, W)
    gt, gh, gw = t // temporal, h // patch, w // patch
    x = x.reshape(gt, temporal, c, gh // merge, merge, patch, gw // merge, merge, patch)
    x = x.transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
    flat = np.ascontiguousarray(x.reshape(gt * gh * gw, c * temporal * patch * patch), dtype=np.float32)
    return flat, (gt, gh, gw)
