"""Qwen2.5-VL inputs built as the official processor builds them, without torchvision.

transformers' Qwen2.5-VL processor needs torchvision for its image and video halves; feedwatch builds the same
tensors here from the checkpoint's own processor files (``preprocessor_config.json``,
``video_preprocessor_config.json``, ``chat_template.jinja`` or ``chat_template.json``), step for step:

1. ``smart_resize``: both sides a multiple of ``patch_size * merge_size``, pixels within the budget, aspect kept.
2. Resize as torchvision does for the official processor: torch's 8-bit bicubic kernel with antialias (the same
   kernel, so the same pixels).
3. Rescale and normalise with the checkpoint's mean and std.
4. Patchify: time in pairs (``temporal_patch_size``; a still image is repeated, a video's last frame pads it),
   then merge blocks of ``merge_size`` x ``merge_size`` patches, channels, time and pixels flattened last.

``tests/fixtures/reference`` holds what the official processor produced for real frames (made by
``tests/fixtures/make_reference.py`` in a venv with torchvision); the tests compare these functions to it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from streamer.errors import ModelError

__all__ = ["QwenVision", "chat_template", "smart_resize"]

# Qwen2.5-VL's defaults where a checkpoint's processor files say nothing (transformers' Qwen2VLImageProcessor).
_DEFAULTS: dict[str, Any] = {
    "patch_size": 14,
    "merge_size": 2,
    "temporal_patch_size": 2,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "min_pixels": 56 * 56,
    "max_pixels": 28 * 28 * 1280,
}


def smart_resize(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """The size the Qwen2-VL processors resize to: sides multiples of ``factor``, area within the pixel budget,
    aspect ratio kept as closely as possible (the same rule and rounding as transformers' ``smart_resize``)."""
    if max(height, width) / min(height, width) > 200:
        raise ValueError(f"aspect ratio over 200: {width}x{height}")
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def _resize(frames: NDArray[np.uint8], height: int, width: int) -> NDArray[np.uint8]:
    """``frames`` (T, H, W, 3) resized as torchvision resizes 8-bit images for the bicubic processors: torch's own
    8-bit bicubic kernel with antialias (torchvision hands uint8 images to it directly on the CPU)."""
    import torch

    if frames.shape[1:3] == (height, width):
        return frames
    x = torch.from_numpy(np.array(frames)).permute(0, 3, 1, 2)  # a writable copy, channels last in memory
    y = torch.nn.functional.interpolate(x, size=[height, width], mode="bicubic", align_corners=False, antialias=True)
    out: NDArray[np.uint8] = y.permute(0, 2, 3, 1).contiguous().numpy()
    return out


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {path}: {exc}") from exc
    return data if isinstance(data, dict) else {}


def _budget(config: dict[str, Any]) -> tuple[int | None, int | None]:
    raw = config.get("size")
    size: dict[str, Any] = raw if isinstance(raw, dict) else {}
    low = config.get("min_pixels", size.get("shortest_edge"))
    high = config.get("max_pixels", size.get("longest_edge"))
    return (int(low) if low else None), (int(high) if high else None)


@dataclass(frozen=True, slots=True)
class QwenVision:
    """A checkpoint's vision preprocessing: patch geometry, normalisation and pixel budgets."""

    patch_size: int
    merge_size: int
    temporal_patch_size: int
    mean: NDArray[np.float32]
    std: NDArray[np.float32]
    image_pixels: tuple[int, int]  # (min, max) per image
    video_pixels: tuple[int, int]  # (min, max) per video frame

    @classmethod
    def from_folder(cls, folder: Path) -> QwenVision:
        """Read ``preprocessor_config.json`` (and ``video_preprocessor_config.json`` when there is one)."""
        image = {**_DEFAULTS, **_read_json(folder / "preprocessor_config.json")}
        video = {**image, **_read_json(folder / "video_preprocessor_config.json")}
        image_min, image_max = _budget(image)
        video_min, video_max = _budget(video)
        return cls(
            patch_size=int(image["patch_size"]),
            merge_size=int(image["merge_size"]),
            temporal_patch_size=int(image["temporal_patch_size"]),
            mean=np.asarray(image["image_mean"], dtype=np.float32),
            std=np.asarray(image["image_std"], dtype=np.float32),
            image_pixels=(image_min or _DEFAULTS["min_pixels"], image_max or _DEFAULTS["max_pixels"]),
            video_pixels=(video_min or image_min or _DEFAULTS["min_pixels"], video_max or _DEFAULTS["max_pixels"]),
        )

    @property
    def factor(self) -> int:
        return self.patch_size * self.merge_size

    def tokens(self, grid: tuple[int, int, int]) -> int:
        """Placeholder tokens a grid takes in the text (patches merged ``merge_size`` x ``merge_size``)."""
        return int(np.prod(grid)) // self.merge_size**2

    def video(
        self, frames: NDArray[np.uint8], *, max_pixels: int | None = None
    ) -> tuple[NDArray[np.float32], tuple[int, int, int]]:
        """``pixel_values_videos`` and ``video_grid_thw`` of one video, ``frames`` (T, H, W, 3) of one size."""
        low, high = self.video_pixels
        height, width = smart_resize(frames.shape[1], frames.shape[2], self.factor, low, max_pixels or high)
        return self._patches(_resize(frames, height, width))

    def image(self, image: NDArray[np.uint8]) -> tuple[NDArray[np.float32], tuple[int, int, int]]:
        """``pixel_values`` and ``image_grid_thw`` of one image (H, W, 3): a still is two identical frames."""
        low, high = self.image_pixels
        height, width = smart_resize(image.shape[0], image.shape[1], self.factor, low, high)
        resized = _resize(image[None], height, width)
        return self._patches(np.repeat(resized, self.temporal_patch_size, axis=0))

    def _patches(self, frames: NDArray[np.uint8]) -> tuple[NDArray[np.float32], tuple[int, int, int]]:
        t, h, w, c = frames.shape
        patch, merge, temporal = self.patch_size, self.merge_size, self.temporal_patch_size
        if pad := -t % temporal:
            frames = np.concatenate([frames, np.repeat(frames[-1:], pad, axis=0)])
            t += pad
        # The processors fuse rescale and normalise: (x - 255 * mean) / (255 * std), in float32.
        x = (frames.astype(np.float32) - np.float32(255.0) * self.mean) / (np.float32(255.0) * self.std)
        x = x.transpose(0, 3, 1, 2)  # (T, C, H, W)
        gt, gh, gw = t // temporal, h // patch, w // patch
        x = x.reshape(gt, temporal, c, gh // merge, merge, patch, gw // merge, merge, patch)
        x = x.transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
        flat = np.ascontiguousarray(x.reshape(gt * gh * gw, c * temporal * patch * patch), dtype=np.float32)
        return flat, (gt, gh, gw)


def chat_template(folder: Path, tokenizer: Any) -> str:
    """The processor's chat template (the one with image and video placeholders), as ``AutoProcessor`` loads it:
    ``chat_template.jinja``, else ``chat_template.json``; the tokenizer's own template only when neither exists."""
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text()
    legacy = _read_json(folder / "chat_template.json").get("chat_template")
    if isinstance(legacy, str):
        return legacy
    template = getattr(tokenizer, "chat_template", None)
    if not isinstance(template, str):
        raise ModelError(f"{folder} has no chat template (chat_template.jinja or chat_template.json)")
    return template
