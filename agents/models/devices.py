"""Where a transformers model runs: the device, the dtype and the attention implementation."""

from __future__ import annotations

import importlib.util
from typing import Any

from streamer.errors import ModelError

__all__ = ["attention_implementation", "pick_device", "torch_dtype"]


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


def attention_implementation(device: str, setting: str = "auto") -> str:
    """``auto``: flash-attention 2 on a GPU when the package is installed, else PyTorch's SDPA."""
    if setting == "flash_attention_2" and (
        not device.startswith("cuda") or importlib.util.find_spec("flash_attn") is None
    ):
        raise ModelError(
            "attention 'flash_attention_2' needs a CUDA device and the flash-attn package ('feedwatch[gpu]')"
        )
    if setting != "auto":
        return setting
    if device.startswith("cuda") and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"
