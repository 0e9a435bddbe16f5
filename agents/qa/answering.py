"""Answering models: a VideoQA model sees the selected frames, each after its camera and wall-clock time.

Two backends: a Qwen2.5-VL class model through transformers (images interleaved with their labels in the
processor's chat template, inputs built as the official processor builds them), and any OpenAI-compatible
vision endpoint. Both are told to cite the frame numbers they used.
"""

from __future__ import annotations

import importlib
import inspect
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
from ..models.qwen_vl import QwenVision, chat_template

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
    """A Qwen2.5-VL class model loaded with ``from_pretrained`` from a folder or the local cache.

    Its inputs are built as the official processor builds them (:mod:`agents.models.qwen_vl`): each frame an image
    after its label, the processor's chat template, ``mm_token_type_ids`` so the model gives the images their
    3D positions; greedy decoding under the checkpoint's generation config, capped."""

    name = "transformers"

    def __init__(self, config: QAConfig) -> None:
        import torch

        tf: Any = importlib.import_module("transformers")
        self.config = config
        folder = require_weights(config.model, "qa")
        self.device = pick_device(config.device)
        try:
            self.model: Any = tf.AutoModelForImageTextToText.from_pretrained(
                folder, dtype=torch_dtype(self.device), attn_implementation=attention_implementation(self.device)
            ).to(self.device)
            self.model.eval()
            self.tokenizer: Any = tf.AutoTokenizer.from_pretrained(folder)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"qa: cannot load {folder}: {exc}") from exc
        if "mm_token_type_ids" not in inspect.signature(self.model.forward).parameters:
            raise ModelError(f"qa: {folder} is not a Qwen2.5-VL class model this transformers can position")
        self.vision = QwenVision.from_folder(folder)
        self.template = chat_template(folder, self.tokenizer)
        self._torch = torch

    def inputs(self, question: str, frames: list[QAFrame]) -> dict[str, Any]:
        """The model inputs: each frame after its label, then the instruction and the question."""
        torch = self._torch
        encoded = [self.vision.image(np.asarray(_fit(f.image, self.config.image_side))) for f in frames]
        content: list[dict[str, str]] = []
        for i, f in enumerate(frames):
            content += [{"type": "text", "text": frame_label(i, f)}, {"type": "image"}]
        content.append({"type": "text", "text": f"{INSTRUCTION}\nQuestion: {question}"})
        messages: list[dict[str, Any]] = [{"role": "user", "content": content}]
        chat = str(
            self.tokenizer.apply_chat_template(
                messages, chat_template=self.template, tokenize=False, add_generation_prompt=True
            )
        )
        parts = chat.split("<|image_pad|>")
        if len(parts) != len(frames) + 1:
            raise ModelError("qa: the chat template did not place one image per frame")
        text = parts[0] + "".join(
            "<|image_pad|>" * self.vision.tokens(grid) + part
            for (_, grid), part in zip(encoded, parts[1:], strict=True)
        )
        ids = self.tokenizer(text, return_tensors="pt")
        image_id = self.model.config.image_token_id
        return {
            "input_ids": ids["input_ids"],
            "attention_mask": ids["attention_mask"],
            "mm_token_type_ids": (ids["input_ids"] == image_id).to(torch.int64),  # 1: image
            "pixel_values": torch.from_numpy(np.concatenate([px for px, _ in encoded])),
            "image_grid_thw": torch.tensor([grid for _, grid in encoded], dtype=torch.long),
        }

    def answer(self, question: str, frames: list[QAFrame]) -> str:
        torch = self._torch
        inputs = {k: v.to(self.device) for k, v in self.inputs(question, frames).items()}
        inputs["pixel_values"] = inputs["pixel_values"].to(torch_dtype(self.device))
        try:
            with torch.inference_mode():
                out = self.model.generate(**inputs, max_new_tokens=self.config.max_new_tokens, do_sample=False)
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"qa: generation failed: {exc}") from exc
        return str(self.tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)).strip()


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
