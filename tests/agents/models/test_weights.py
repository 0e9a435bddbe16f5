"""Finding weights offline: a snapshot counts only when every shard its index names is there, and a revision picks
its own snapshot. The cache is laid out as huggingface_hub lays it out (refs/, snapshots/<commit>/); the files are
placeholders, since only their presence is looked at here (loading is tested with real tiny checkpoints)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.models import find_weights

MODEL = "yaolily/GenS-qwen2d5-vl-3b"
MAIN, V2 = "a" * 40, "b" * 40


def _snapshot(cache: Path, commit: str, shards: list[str], present: list[str], ref: str | None = None) -> Path:
    repo = cache / "models--yaolily--GenS-qwen2d5-vl-3b"
    folder = repo / "snapshots" / commit
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    index = {"metadata": {}, "weight_map": {f"layer.{i}": name for i, name in enumerate(shards)}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    for name in present:
        (folder / name).write_bytes(b"\0")
    if ref is not None:
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / ref).write_text(commit)
    return folder


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    return tmp_path


def test_a_half_pulled_multi_shard_snapshot_is_not_present(cache: Path) -> None:
    shards = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    folder = _snapshot(cache, MAIN, shards, shards[:1], ref="main")
    assert find_weights(MODEL) is None  # one shard of two: auto must not pick GenS and fail to load it
    (folder / shards[1]).write_bytes(b"\0")
    assert find_weights(MODEL) == folder


def test_an_unreadable_index_is_not_present(cache: Path) -> None:
    folder = _snapshot(cache, MAIN, ["model.safetensors"], ["model.safetensors"], ref="main")
    (folder / "model.safetensors.index.json").write_text("{not json")
    assert find_weights(MODEL) is None


def test_a_revision_is_found_by_its_ref_or_commit_and_never_swapped_for_main(cache: Path) -> None:
    main = _snapshot(cache, MAIN, ["model.safetensors"], ["model.safetensors"], ref="main")
    v2 = _snapshot(cache, V2, ["model.safetensors"], ["model.safetensors"], ref="v2")
    assert find_weights(MODEL) == main
    assert find_weights(MODEL, "v2") == v2 and find_weights(MODEL, V2) == v2 and find_weights(MODEL, "main") == main
    assert find_weights(MODEL, "v3") is None  # not pulled: not main instead
    (v2 / "model.safetensors").unlink()
    assert find_weights(MODEL, "v2") is None


def test_a_local_folder_needs_every_shard_too(tmp_path: Path) -> None:
    folder = tmp_path / "gens"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"a": "one.safetensors"}}))
    assert find_weights(str(folder)) is None
    (folder / "one.safetensors").write_bytes(b"\0")
    assert find_weights(str(folder)) == folder
