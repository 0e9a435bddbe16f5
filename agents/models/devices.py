"""Where a transformers model runs: the device, the dtype and the attention implementation, chosen by what the
device can do (its CUDA compute capability), never assumed.

bf16 needs compute capability 8.0 (Ampere) or newer: older GPUs (T4 7.5, V100 7.0) get fp16. flash-attention 2
needs the package and 8.0 or newer too; elsewhere PyTorch's SDPA, which runs everywhere.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from streamer.errors import ModelError

__all__ = ["attention_implementation", "compute_capability", "pick_device", "torch_dtype"]

_AMPERE = (8, 0)  # bf16 tensor cores and flash-attention 2 from here on


def pick_device(setting: str) -> str:
    """``auto`` means the first CUDA device when there is one, else the CPU."""
    import torch

    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if setting.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(f"device {setting!r} was asked for, but torch sees no CUDA device")
    return setting


def compute_capability(device: str) -> tuple[int, int] | None:
    """The CUDA compute capability of ``device`` (``(8, 0)`` for an A100), None off CUDA."""
    if not device.startswith("cuda"):
        return None
    import torch

    major, minor = torch.cuda.get_device_capability(device)
    return int(major), int(minor)


def torch_dtype(device: str) -> Any:
    """bf16 on a GPU that has it (what the checkpoints are trained in), fp16 on older GPUs, fp32 on the CPU (bf16
    matmuls are slow there)."""
    import torch

    capability = compute_capability(device)
    if capability is None:
        return torch.float32
    return torch.bfloat16 if capability >= _AMPERE else torch.float16


def attention_implementation(device: str, setting: str = "auto") -> str:
    """``auto``: flash-attention 2 on a GPU that supports it when the package is installed, else PyTorch's SDPA."""
    capability = compute_capability(device)
    supported = capability is not None and capability >= _AMPERE and importlib.util.find_spec("flash_attn") is not None
    if setting == "flash_attention_2" and not supported:
        found = "no CUDA device" if capability is None else f"compute capability {capability[0]}.{capability[1]}"
        raise ModelError(
            f"attention 'flash_attention_2' needs a CUDA GPU of compute capability 8.0 or newer and the flash-attn "
            f"package ('feedwatch[gpu]'); here: {found}"
            + ("" if importlib.util.find_spec("flash_attn") is not None else ", flash-attn not installed")
            + ". Use attention 'auto' or 'sdpa'."
        )
    if setting != "auto":
        return setting
    return "flash_attention_2" if supported else "sdpa"
