"""Finding model weights offline: a local folder, or a snapshot in the Hugging Face cache."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from streamer.errors import ModelError

__all__ = ["cuda_available", "find_weights", "hf_cache_dir", "require_weights", "weight_locations"]


def hf_cache_dir() -> Path:
    """The hub cache transformers reads: ``$HF_HUB_CACHE``, ``$HF_HOME/hub`` or ``~/.cache/huggingface/hub``."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]) / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "huggingface" / "hub"


def _cache_folder(model: str) -> Path:
    return hf_cache_dir() / ("models--" + model.replace("/", "--"))


def weight_locations(model: str) -> list[str]:
    """Where :func:`find_weights` looks, for error messages."""
    return [f"the folder {Path(model).expanduser()}", f"the Hugging Face cache {_cache_folder(model)}"]


def find_weights(model: str) -> Path | None:
    """Return a folder holding ``config.json`` and weights for ``model`` (a path or hub id), or None."""
    local = Path(model).expanduser()
    if local.is_dir():
        return local if _complete(local) else None
    snapshots = _cache_folder(model) / "snapshots"
    if not snapshots.is_dir():
        return None
    ref = _cache_folder(model) / "refs" / "main"
    if ref.is_file():
        pinned = snapshots / ref.read_text().strip()
        if _complete(pinned):
            return pinned
    for snap in sorted(snapshots.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True):
        if _complete(snap):
            return snap
    return None


def require_weights(model: str, backend: str) -> Path:
    """The local folder of ``model``'s weights, or a :class:`ModelError` saying where we looked."""
    folder = find_weights(model)
    if folder is None:
        raise ModelError(
            f"{backend}: no weights for {model!r}; looked in " + " and ".join(weight_locations(model)) + "."
        )
    return folder


def _complete(folder: Path) -> bool:
    if not (folder / "config.json").is_file():
        return False
    return any(folder.glob("*.safetensors")) or any(folder.glob("*.bin"))


def cuda_available() -> bool:
    """True when torch is installed and sees a CUDA device (without importing torch otherwise)."""
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())
