"""Model weights one command away: which models the config names, whether they are here, and fetching them.

Downloads go through ``huggingface_hub`` into the Hugging Face cache that :func:`~agents.models.weights.find_weights`
reads, so ``auto`` picks a pulled model up with no config change. ``huggingface_hub`` resumes interrupted downloads,
honours ``HF_ENDPOINT`` (mirrors) and ``HF_TOKEN`` (gated models); with ``HF_HUB_OFFLINE=1`` nothing is fetched.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamer.errors import ModelError
from streamer.redact import redact_text

from ..config import FeedwatchConfig
from .weights import find_weights, hf_cache_dir, weight_locations

__all__ = ["ROLES", "ModelStatus", "pull", "statuses"]

log = logging.getLogger(__name__)

# Each model role and the setting that names its model.
ROLES = {
    "gens": "scorer.gens.model",
    "embedding": "scorer.embedding.model",
    "qa": "qa.model",
}
# Never needed to run a model with transformers (other frameworks' weights and exports).
_IGNORE = ["*.h5", "*.msgpack", "*.onnx", "*.ot", "*.tflite", "*.mlmodel", "*.gguf", "onnx/*", "openvino/*"]


@dataclass(frozen=True, slots=True)
class ModelStatus:
    """One role's model: where it was looked for, and the folder that holds it (None when it is not here)."""

    role: str
    setting: str
    model: str
    folder: Path | None
    looked: list[str]

    def to_dict(self) -> dict[str, object]:
        return {
            "role": self.role,
            "setting": self.setting,
            "model": self.model,
            "present": self.folder is not None,
            "folder": str(self.folder) if self.folder else None,
            "looked": self.looked,
        }


def _model_of(config: FeedwatchConfig, role: str) -> str:
    return {"gens": config.scorer.gens.model, "embedding": config.scorer.embedding.model, "qa": config.qa.model}[role]


def statuses(config: FeedwatchConfig) -> list[ModelStatus]:
    """Every role's model and whether its weights are here."""
    out = []
    for role, setting in ROLES.items():
        model = _model_of(config, role)
        out.append(ModelStatus(role, setting, model, find_weights(model), weight_locations(model)))
    return out


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def pull(target: str, config: FeedwatchConfig, *, revision: str | None = None) -> Path:
    """Download ``target`` (a role: gens, embedding, qa; or a hub id) into the Hugging Face cache; its folder."""
    model = _model_of(config, target) if target in ROLES else target
    if Path(model).expanduser().is_dir():
        raise ModelError(f"{model} is a local folder, not a hub id: there is nothing to pull")
    cache = hf_cache_dir()
    if _offline():
        raise ModelError(
            f"HF_HUB_OFFLINE is set, so nothing is downloaded: unset it to pull {model}, or copy the model into "
            f"{cache} (or a folder, and set the model setting to that folder)"
        )
    try:
        import httpx2  # huggingface_hub's HTTP client
        import huggingface_hub
        from huggingface_hub import errors as hub_errors
    except ImportError:
        raise ModelError("pulling models needs the model stack: pip install 'feedwatch[models]'") from None
    endpoint = redact_text(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    api: Any = huggingface_hub.HfApi()
    try:
        info = api.model_info(model, revision=revision)
        names = [s.rfilename for s in (info.siblings or [])]
        ignore = _IGNORE + (["*.bin", "*.pt", "*.pth"] if any(n.endswith(".safetensors") for n in names) else [])
        log.info("pulling %s from %s into %s", model, endpoint, cache)
        folder = huggingface_hub.snapshot_download(
            model, revision=revision, cache_dir=str(cache), ignore_patterns=ignore
        )
    except hub_errors.GatedRepoError as exc:
        raise ModelError(f"{model} is gated: accept its terms on the hub and set HF_TOKEN ({_status(exc)})") from exc
    except hub_errors.RepositoryNotFoundError as exc:
        raise ModelError(f"{model}: no such model at {endpoint} (or it is private: set HF_TOKEN)") from exc
    except hub_errors.RevisionNotFoundError as exc:
        raise ModelError(f"{model}: no revision {revision!r} at {endpoint}") from exc
    except hub_errors.HfHubHTTPError as exc:
        raise ModelError(
            f"{model}: the hub at {endpoint} answered {_status(exc)}; run the command again to resume"
        ) from exc
    except (hub_errors.LocalEntryNotFoundError, httpx2.TransportError, OSError) as exc:
        raise ModelError(
            f"{model}: cannot reach {endpoint} ({redact_text(str(exc)).splitlines()[0][:200]}); check the network "
            "or HF_ENDPOINT, then run the command again: finished files are kept and a partial one resumes"
        ) from exc
    path = Path(folder)
    if find_weights(model, revision) is None:
        raise ModelError(f"{model}: downloaded to {path}, but it holds no config.json with weights feedwatch can load")
    return path


def _status(exc: Any) -> str:
    response = getattr(exc, "response", None)
    code = getattr(response, "status_code", None)
    return str(code) if code is not None else redact_text(str(exc)).splitlines()[0][:200]
