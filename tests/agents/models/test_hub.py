"""`feedwatch models` and `models pull` against FakeHub, a stand-in for the Hugging Face hub serving a tiny model
the test builds; the pulled model then runs through the real path (auto picks it up, no config change)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakehub import FakeHub
from tests.helpers import PERSON_CLIP, run_cli

pytest.importorskip("transformers", reason="the model stack is not installed (pip install 'feedwatch[models]')")

from agents.models.random_init import build_random_clip

CLIP = "openai/clip-vit-base-patch32"  # the embedding model the default config names


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[FakeHub]:
    with FakeHub({CLIP: build_random_clip(tmp_path / "built")}) as fake:
        yield fake


def _env(hub: FakeHub, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_CACHE": "", **extra}


@pytest.mark.slow
def test_pull_then_auto_picks_the_model_up(hub: FakeHub, tmp_path: Path, media: Path) -> None:
    env = _env(hub, tmp_path)
    listed = json.loads(run_cli("models", "--json", env=env).stdout)
    assert {m["role"]: m["present"] for m in listed} == {"gens": False, "embedding": False, "qa": False}
    pulled = run_cli("models", "pull", "embedding", env=env)
    assert pulled.returncode == 0, pulled.stderr
    assert "embedding: ready in" in pulled.stdout and str(tmp_path / "hf" / "hub") in pulled.stdout
    listed = json.loads(run_cli("models", "--json", env=env).stdout)
    assert [m["present"] for m in listed if m["role"] == "embedding"] == [True]
    watched = run_cli("watch", str(PERSON_CLIP), "--query", "a person", "--memory", str(tmp_path / "memory"), env=env)
    assert watched.returncode == 0, watched.stderr
    assert f"scorer: embedding (embedding weights found for {CLIP})" in watched.stderr


@pytest.mark.slow
def test_an_interrupted_download_resumes_where_it_stopped(tmp_path: Path) -> None:
    # Weights past huggingface_hub's 10 MiB read size, so a drop after 12 MB leaves a part on disk to resume from.
    with FakeHub({CLIP: build_random_clip(tmp_path / "built", vocab_size=120_000)}) as hub:
        weights = hub.repos[CLIP].files["model.safetensors"]
        assert len(weights) > 14_000_000
        hub.cut_once["model.safetensors"] = 12_000_000
        _pull_twice_if_needed(hub, tmp_path)


def _pull_twice_if_needed(hub: FakeHub, tmp_path: Path) -> None:
    env = _env(hub, tmp_path)
    first = run_cli("models", "pull", CLIP, env=env)
    if first.returncode != 0:  # huggingface_hub may resume by itself within the first call; else the second does
        assert "run the command again" in first.stderr and "Traceback" not in first.stderr
        assert run_cli("models", "pull", CLIP, env=env).returncode == 0
    ranges = [r for method, path, r in hub.requests if method == "GET" and path.endswith("/model.safetensors")]
    assert ranges == [None, f"bytes={10 * 2**20}-"]  # the second request asks only for what is missing
    snapshot = next((tmp_path / "hf" / "hub").glob("models--openai--clip-vit-base-patch32/snapshots/*"))
    assert (snapshot / "model.safetensors").read_bytes() == hub.repos[CLIP].files["model.safetensors"]


def test_refusals_are_clear(hub: FakeHub, tmp_path: Path) -> None:
    offline = run_cli("models", "pull", "embedding", env=_env(hub, tmp_path, HF_HUB_OFFLINE="1"))
    assert offline.returncode == 1 and "HF_HUB_OFFLINE is set" in offline.stderr
    unknown = run_cli("models", "pull", "nobody/nothing", env=_env(hub, tmp_path))
    assert unknown.returncode == 1 and "nobody/nothing: no such model" in unknown.stderr
    away = run_cli("models", "pull", "embedding", env={**_env(hub, tmp_path), "HF_ENDPOINT": "http://127.0.0.1:9"})
    assert away.returncode == 1 and "cannot reach http://127.0.0.1:9" in away.stderr
    for result in (offline, unknown, away):
        assert "Traceback" not in result.stderr
