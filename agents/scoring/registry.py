"""Backend registry: a name maps to ``"module:Class"``, imported only when chosen."""

from __future__ import annotations

import importlib
import importlib.util
import logging
from typing import Any

from streamer.errors import ModelError

from ..config import BACKEND_NAMES, ScorerConfig
from ..models import cuda_available, find_weights, weight_locations
from .base import Scorer

__all__ = ["BACKENDS", "create_fallback", "create_scorer", "resolve_backend"]

log = logging.getLogger(__name__)

# Each backend named in the config (BACKEND_NAMES) and the class that implements it.
BACKENDS: dict[str, str] = {
    "activity": "agents.scoring.activity:ActivityScorer",
    "embedding": "agents.scoring.embedding:EmbeddingScorer",
    "gens": "agents.scoring.gens:GensScorer",
    "cascade": "agents.scoring.cascade:CascadeScorer",
    "openai": "agents.scoring.openai_vlm:OpenAIVLMScorer",
}
if set(BACKENDS) != set(BACKEND_NAMES):
    raise RuntimeError(f"scorer registry {sorted(BACKENDS)} and config {sorted(BACKEND_NAMES)} disagree")
_NEEDS_MODELS = frozenset({"embedding", "gens", "cascade"})


def _model_of(config: ScorerConfig, backend: str) -> str:
    return config.gens.model if backend == "gens" else config.embedding.model


def _models_installed() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("torch", "transformers"))


def resolve_backend(config: ScorerConfig) -> tuple[str, str]:
    """Pick the backend to run and say why. Only ``auto`` falls back; a named backend must be usable."""
    if config.backend != "auto":
        backend = config.backend
        for needed in ("embedding", "gens") if backend == "cascade" else (backend,):
            if needed not in _NEEDS_MODELS:
                continue
            model = _model_of(config, needed)
            if find_weights(model) is None:
                raise ModelError(
                    f"scorer backend {backend!r}: no weights for {model!r}; looked in "
                    + " and ".join(weight_locations(model))
                    + ". Put the weights there (or set scorer."
                    + needed
                    + ".model to a local folder), or use backend 'auto' or 'activity'."
                )
            if not _models_installed():
                raise ModelError(f"scorer backend {backend!r} needs the model stack: pip install 'feedwatch[models]'")
        return backend, "named in the configuration"
    models = _models_installed()
    if models and find_weights(config.gens.model) is not None:
        if cuda_available():
            return "gens", f"GenS weights found for {config.gens.model} and a CUDA GPU is present"
        log.info("GenS weights are present but there is no CUDA GPU; not using GenS on the CPU")
    if models and find_weights(config.embedding.model) is not None:
        return "embedding", f"embedding weights found for {config.embedding.model}"
    missing = "the model stack is not installed" if not models else "no model weights were found locally"
    return "activity", missing


def create_scorer(config: ScorerConfig, backend: str | None = None) -> Scorer:
    """Instantiate ``backend`` (or the resolved one) with its settings from ``config``."""
    name = backend or resolve_backend(config)[0]
    target = BACKENDS.get(name)
    if target is None:
        raise ModelError(f"unknown scorer backend {name!r}; known: {', '.join(sorted(BACKENDS))}")
    module_name, _, cls_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelError(f"scorer backend {name!r} cannot be imported: {exc}") from exc
    cls: Any = getattr(module, cls_name)
    settings = {
        "activity": config.activity,
        "gens": config.gens,
        "embedding": config.embedding,
        "cascade": config,
        "openai": config.openai,
    }[name]
    scorer: Scorer = cls(settings)
    return scorer


def create_fallback(config: ScorerConfig, backend: str) -> Scorer | None:
    """The scorer that watches while ``backend`` is unavailable (``scorer.fallback``), or None."""
    if config.fallback == "none" or backend == "activity":
        return None
    return create_scorer(config, config.fallback)
