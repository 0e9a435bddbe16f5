"""dtype and attention by what the GPU can do. No GPU here: torch's answer about the device's compute capability is
faked (named as such), the choice made from it is real."""

from __future__ import annotations

import importlib.machinery
import importlib.util
from typing import Any

import pytest

torch = pytest.importorskip("torch", reason="the model stack is not installed")

from agents.models import attention_implementation, torch_dtype  # noqa: E402
from streamer import ModelError  # noqa: E402


def _fake_gpu(monkeypatch: pytest.MonkeyPatch, capability: tuple[int, int], *, flash_attn: bool) -> None:
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        if name == "flash_attn":
            return importlib.machinery.ModuleSpec("flash_attn", None) if flash_attn else None
        return real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


@pytest.mark.parametrize(
    ("capability", "gpu", "dtype", "attention"),
    [((7, 0), "V100", torch.float16, "sdpa"), ((7, 5), "T4", torch.float16, "sdpa"),
     ((8, 0), "A100", torch.bfloat16, "flash_attention_2"), ((9, 0), "H100", torch.bfloat16, "flash_attention_2")],
)  # fmt: skip
def test_dtype_and_attention_follow_the_compute_capability(
    monkeypatch: pytest.MonkeyPatch, capability: tuple[int, int], gpu: str, dtype: Any, attention: str
) -> None:
    _fake_gpu(monkeypatch, capability, flash_attn=True)
    assert torch_dtype("cuda") is dtype, gpu
    assert attention_implementation("cuda") == attention, gpu
    assert attention_implementation("cuda:1", "sdpa") == "sdpa"
    if attention == "sdpa":
        with pytest.raises(ModelError, match=rf"compute capability {capability[0]}\.{capability[1]}"):
            attention_implementation("cuda", "flash_attention_2")


def test_without_the_package_or_a_gpu_it_is_sdpa(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_gpu(monkeypatch, (9, 0), flash_attn=False)
    assert attention_implementation("cuda") == "sdpa"
    with pytest.raises(ModelError, match="flash-attn not installed"):
        attention_implementation("cuda", "flash_attention_2")
    assert torch_dtype("cpu") is torch.float32 and attention_implementation("cpu") == "sdpa"
    with pytest.raises(ModelError, match="no CUDA device"):
        attention_implementation("cpu", "flash_attention_2")
