"""Answering models: a VideoQA model sees the selected frames, each after its camera and wall-clock time.

Two backends: a Qwen2.5-VL class model through transformers (images interleaved with their timestamps in
the chat template; the processor class needs torchvision, so inputs are built from the tokenizer and the
PIL image processor with the image pad tokens expanded from ``image_grid_thw``), and any
OpenAI-compatible vision endpoint. Both are told to cite the frame numbers they used.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from streamer.errors import ModelError

from ..config import QAConfig
from ..models import (
    ChatClient,
    attention_implementation,
    image_part,
    pick_device,
    require_weights,
    text_part,
    torch_dtype,
)

__all__ = ["OpenAIVideoQA", "QAFrame", "QwenVideoQA", "VideoQA", "create_videoqa", "frame_label"]

INSTRUCTION = (
    "Answer the question using only these frames from the user's cameras. Each frame is labelled with its "
    "number, camera and time. Say which frame numbers your answer relies on, and say so if the frames do "
    "not show the answer."
)


@dataclass(frozen=True, slots=True)
class QAFrame:
    """A frame given to the answering model."""

    camera: str
    wall: float
    image: NDArray[np.uint8]
    source: str  # "memory" or "buffer"
    moment_id: str | None = None
    thumbnail: str | None = None


def frame_label(i: int, frame: QAFrame) -> str:
    when = datetime.fromtimestamp(frame.wall).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    return f"Frame {i + 1}, camera {frame.camera}, {when}:"


class VideoQA(Protocol):
    name: str

    def answer(self, question: str, frames: list[QAFrame]) -> str: ...


def _fit(image: NDArray[np.uint8], side: int) -> Image.Image:
    img = Image.fromarray(image)
    img.thumbnail((side, side))
    return img


class QwenVideoQA:
    """A Qwen2.5-VL class model loaded with ``from_pretrained`` from a folder or the local cache."""

    name = "transformers"

    def __init__(self, config: QAConfig) -> None:
        import torch

        tf: Any = importlib.import_module("transformers")
        pil: Any = importlib.import_module("transformers.models.qwen2_vl.image_processing_pil_qwen2_vl")
        self.config = config
        folder = require_weights(config.model, "qa")
        self.device = pick_device(config.device)
        try:
            self.model: Any = tf.AutoModelForImageTextToText.from_pretrained(
                folder, dtype=torch_dtype(self.device), attn_implementation=attention_implementation(self.device)
            ).to(self.device)
            self.model.eval()
            self.tokenizer: Any = tf.AutoTokenizer.from_pretrained(folder)
            self.image_processor: Any = pil.Qwen2VLImageProcessorPil.from_pretrained(folder)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"qa: cannot load {folder}: {exc}") from exc
        self._torch = torch

    def answer(self, question: str, frames: list[QAFrame]) -> str:
        torch = self._torch
        images = [_fit(f.image, self.config.image_side) for f in frames]
        batch = self.image_processor(images=images, return_tensors="pt")
        grids = batch["image_grid_thw"]
        merge = int(self.image_processor.merge_size) ** 2
        content: list[dict[str, str]] = []
        for i, f in enumerate(frames):
            content += [{"type": "text", "text": frame_label(i, f)}, {"type": "image"}]
        content.append({"type": "text", "text": f"{INSTRUCTION}\nQuestion: {question}"})
        messages: list[dict[str, Any]] = [{"role": "user", "content": content}]
        chat = str(self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
        parts = chat.split("<|image_pad|>")
        if len(parts) != len(frames) + 1:
            raise ModelError("qa: the chat template did not place one image per frame")
        text = parts[0] + "".join(
            "<|image_pad|>" * (int(grid.prod()) // merge) + part for grid, part in zip(grids, parts[1:], strict=True)
        )
        ids = self.tokenizer(text, return_tensors="pt", add_special_tokens=False)
        image_id = self.model.config.image_token_id
        inputs: dict[str, Any] = {
            "input_ids": ids["input_ids"].to(self.device),
            "attention_mask": ids["attention_mask"].to(self.device),
            "pixel_values": batch["pixel_values"].to(self.device, dtype=torch_dtype(self.device)),
            "image_grid_thw": grids.to(self.device),
        }
        if "mm_token_type_ids" in self.model.forward.__code__.co_varnames:
            inputs["mm_token_type_ids"] = (ids["input_ids"] == image_id).to(torch.int32).to(self.device)
        try:
            with torch.inference_mode():
                out = self.model.generate(**inputs, max_new_tokens=self.config.max_new_tokens, do_sample=False)
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"qa: generation failed: {exc}") from exc
        return str(self.tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)).strip()


class OpenAIVideoQA:
    """Any OpenAI-compatible vision endpoint."""

    name = "openai"

    def __init__(self, config: QAConfig) -> None:
        self.config = config
        self.client = ChatClient(config.base_url, config.model, api_key=config.api_key, timeout_s=120, role="qa server")

    def answer(self, question: str, frames: list[QAFrame]) -> str:
        content: list[dict[str, Any]] = []
        for i, f in enumerate(frames):
            content += [text_part(frame_label(i, f)), image_part(f.image, self.config.image_side)]
        content.append(text_part(f"{INSTRUCTION}\nQuestion: {question}"))
        messages = [{"role": "user", "content": content}]
        return self.client.complete(messages, max_tokens=self.config.max_new_tokens).strip()


def create_videoqa(config: QAConfig) -> VideoQA | None:
    """The configured answering model, or None for extractive answers."""
    if config.backend == "none":
        return None
    if config.backend == "openai":
        return OpenAIVideoQA(config)
    return QwenVideoQA(config)
