"""Shared plumbing for the transformers backends: weights lookup, device and dtype choice, clear errors."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from streamer import ModelError

from ..weights import find_weights, weight_locations

__all__ = ["attention_implementation", "pick_device", "require_weights", "torch_dtype"]


def require_weights(model: str, backend: str) -> Path:
    """The local folder of ``model``'s weights, or a :class:`ModelError` saying where we looked."""
    folder = find_weights(model)
    if folder is None:
        raise ModelError(
            f"{backend}: no weights for {model!r}; looked in " + " and ".join(weight_locations(model)) + "."
        )
    return folder


def pick_device(setting: str) -> str:
    """``auto`` means the first CUDA device when there is one, else the CPU."""
    import torch

    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if setting.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(f"device {setting!r} was asked for, but torch sees no CUDA device")
    return setting


def torch_dtype(device: str) -> Any:
    """bf16 on a GPU (what the checkpoints are trained in), fp32 on the CPU (bf16 matmuls are slow there)."""
    import torch

    return torch.bfloat16 if device.startswith("cuda") else torch.float32


def attention_implementation(device: str) -> str:
    """flash-attention 2 on a GPU when the package is installed, else PyTorch's SDPA."""
    if device.startswith("cuda") and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"
