"""Finding model weights offline: a local folder, or a snapshot in the Hugging Face cache."""

from __future__ import annotations

import importlib.util
import json
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


def find_weights(model: str, revision: str | None = None) -> Path | None:
    """Return a folder holding ``config.json`` and every weight file for ``model`` (a path or hub id), or None.

    In the hub cache, ``revision`` (a branch, tag or commit) picks the snapshot it names and no other; without it,
    the snapshot ``main`` points to, else the newest complete one."""
    local = Path(model).expanduser()
    if local.is_dir():
        return local if _complete(local) else None
    snapshots = _cache_folder(model) / "snapshots"
    if not snapshots.is_dir():
        return None
    if revision is not None:
        pinned = _snapshot_of(model, revision)
        return pinned if pinned is not None and _complete(pinned) else None
    pinned = _snapshot_of(model, "main")
    if pinned is not None and _complete(pinned):
        return pinned
    for snap in sorted(snapshots.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True):
        if _complete(snap):
            return snap
    return None


def _snapshot_of(model: str, revision: str) -> Path | None:
    """The snapshot folder a revision names: a ref (branch or tag) the cache recorded, or a commit hash."""
    cache = _cache_folder(model)
    ref = cache / "refs" / revision
    commit = ref.read_text().strip() if ref.is_file() else revision
    folder = cache / "snapshots" / commit
    return folder if folder.is_dir() else None


def require_weights(model: str, backend: str) -> Path:
    """The local folder of ``model``'s weights, or a :class:`ModelError` saying where we looked."""
    folder = find_weights(model)
    if folder is None:
        raise ModelError(
            f"{backend}: no weights for {model!r}; looked in " + " and ".join(weight_locations(model)) + "."
        )
    return folder


def _complete(folder: Path) -> bool:
    """``config.json`` and weights; with a shard index, every shard it names (a pull cut short leaves some out)."""
    if not (folder / "config.json").is_file():
        return False
    for index in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        if (folder / index).is_file():
            try:
                shards = set(json.loads((folder / index).read_text())["weight_map"].values())
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                return False
            return bool(shards) and all((folder / shard).is_file() for shard in shards)
    return any(folder.glob("*.safetensors")) or any(folder.glob("*.bin"))


def cuda_available() -> bool:
    """True when torch is installed and sees a CUDA device (without importing torch otherwise)."""
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())
