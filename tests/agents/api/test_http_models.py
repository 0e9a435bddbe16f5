"""The HTTP API over a service that runs a model (a tiny random CLIP built by the test)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from agents import validate_config
from agents.bench.common import free_port
from tests.helpers import SHORT_CLIP, scaled, served, wait_until

pytest.importorskip("transformers", reason="the model stack is not installed")

from agents.models.random_init import build_random_clip
from agents.qa.selection import EmbeddingSelection


@pytest.mark.slow
async def test_text_search_embeds_the_text_under_the_inference_limiter(
    tmp_path: Path, media: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``/api/moments?q=`` runs the embedding model: it takes the limiter live scoring holds, like every model call."""
    config = validate_config(
        {
            "cameras": [{"id": "lobby", "url": str(SHORT_CLIP), "realtime": True, "loop": True}],
            "queries": [{"id": "person", "text": "a person"}],
            "scorer": {"backend": "embedding", "embedding": {"model": str(build_random_clip(tmp_path / "clip"))}},
            "memory": {"path": str(tmp_path / "memory")},
            "http": {"port": free_port()},
        }
    )
    service, http = served(config, retry=True)
    assert http is not None
    holding: list[int] = []
    real = EmbeddingSelection.text_vector

    def spy(self: EmbeddingSelection, text: str) -> object:
        holding.append(service._limiter.running)  # 1: this call holds the limiter's only slot
        return real(self, text)

    monkeypatch.setattr(EmbeddingSelection, "text_vector", spy)
    task = asyncio.create_task(service.run())
    try:
        await wait_until(lambda: http.bound_port is not None and service.memory.semantic_search, what="embeddings")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http.bound_port}", timeout=scaled(30)) as client:
            found = (await client.get("/api/moments", params={"q": "a person"})).json()
    finally:
        service.stop()
        await asyncio.wait_for(task, scaled(30))
    assert found["search"] == "embedding" and found["items"]
    assert holding == [1]
