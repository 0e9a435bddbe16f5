"""Loading the configured embedding model outside the service, for text and image search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from streamer import ConfigError, ModelError

from .config import EmbeddingSettings, FeedwatchConfig, load_config
from .scoring.embedding import EmbeddingScorer

__all__ = ["Embedder", "load_embedder"]


class Embedder:
    """The text and image towers of the embedding backend."""

    def __init__(self, settings: EmbeddingSettings) -> None:
        self.scorer = EmbeddingScorer(settings)

    def embed_texts(self, texts: list[str]) -> NDArray[np.float32]:
        return self.scorer.embed_texts(texts)

    def embed_image_file(self, path: Path) -> NDArray[np.float32]:
        try:
            with Image.open(path) as img:
                rgb = np.asarray(img.convert("RGB"))
        except FileNotFoundError:
            raise ConfigError(f"--image: {path} does not exist") from None
        except (UnidentifiedImageError, OSError) as exc:
            raise ConfigError(f"--image: {path} is not an image Pillow can read ({exc})") from exc
        vector: NDArray[np.float32] = self.scorer.embed_images([rgb])[0]
        return vector


def load_embedder(config: Path | None) -> Embedder:
    """The embedding model named in ``config`` (or the default one), or a clear error."""
    settings = load_config(config).scorer.embedding if config is not None else FeedwatchConfig().scorer.embedding
    import importlib.util

    if importlib.util.find_spec("transformers") is None:
        raise ModelError("searching by text or image needs the model stack: pip install 'feedwatch[models]'")
    return Embedder(settings)
