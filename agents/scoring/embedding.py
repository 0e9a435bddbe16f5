"""The embedding backend: CLIP/SigLIP image and text towers, calibrated per camera and query.

Raw image-text similarity drifts with lighting and scene, so a fixed threshold on it does not hold.
Each (camera, query) pair keeps a rolling record of its own recent similarities; a frame's score is
how far it stands above that baseline, in robust standard deviations, mapped onto GenS's 1-5 scale.
The frame embeddings travel with the scores so the memory can index them.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from streamer.errors import ModelError
from streamer.frames import Window

from ..config import EmbeddingSettings
from ..models import pick_device, require_weights, torch_dtype
from .base import MAX_SCORE, MIN_SCORE, Query, ScoreJob, ScorerBase, WindowScores
from .onnx_tower import OnnxImageTower

__all__ = ["Baseline", "EmbeddingScorer"]

log = logging.getLogger(__name__)

SIGLIP_TEXT_TOKENS = 64  # SigLIP's text length: every text is padded (or cut) to it

_BATCH = 64  # images per forward pass


class Baseline:
    """A rolling robust baseline (median and MAD) of one camera's similarity to one query."""

    def __init__(self, size: int = 300, warmup: int = 30, z_low: float = 1.5, z_high: float = 6.0) -> None:
        self.values: deque[float] = deque(maxlen=size)
        self.warmup = warmup
        self.z_low = z_low
        self.z_high = z_high

    def score(self, similarity: float) -> float:
        """Map a similarity onto 1-5 against the baseline, then add it to the baseline."""
        if len(self.values) < self.warmup:
            value = MIN_SCORE  # too little history to tell what is unusual
        else:
            arr = np.fromiter(self.values, dtype=np.float64)
            median = float(np.median(arr))
            spread = 1.4826 * float(np.median(np.abs(arr - median))) + 1e-3
            z = (similarity - median) / spread
            rel = (z - self.z_low) / (self.z_high - self.z_low)
            value = float(MIN_SCORE + (MAX_SCORE - MIN_SCORE) * np.clip(rel, 0.0, 1.0))
        self.values.append(similarity)
        return value


class EmbeddingScorer(ScorerBase):
    """Cosine similarity of each frame to each query's text, calibrated against the camera's baseline."""

    name = "embedding"
    semantic = True
    windowed = False

    def __init__(self, settings: EmbeddingSettings | None = None) -> None:
        import torch

        tf: Any = importlib.import_module("transformers")
        self.settings = settings or EmbeddingSettings()
        folder = require_weights(self.settings.model, "embedding")
        self.device = pick_device(self.settings.device)
        try:
            self.model: Any = tf.AutoModel.from_pretrained(folder, dtype=torch_dtype(self.device)).to(self.device)
            self.model.eval()
            self.tokenizer: Any = tf.AutoTokenizer.from_pretrained(folder)
            self.image_processor: Any = tf.AutoImageProcessor.from_pretrained(folder)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"embedding: cannot load {folder}: {exc}") from exc
        if not hasattr(self.model, "get_image_features") or not hasattr(self.model, "get_text_features"):
            raise ModelError(f"embedding: {folder} is not a dual-tower (CLIP/SigLIP style) model")
        crop = getattr(self.image_processor, "crop_size", None) or getattr(self.image_processor, "size", None)
        self.input_size = max(_side_values(crop)) if crop else 224
        mean = np.asarray(getattr(self.image_processor, "image_mean", None) or [0.5, 0.5, 0.5], dtype=np.float64)
        self._fill = tuple(int(v) for v in np.round(mean * 255).astype(np.uint8))
        self._torch = torch
        # SigLIP was trained on text padded to the tokenizer's max length; CLIP on text padded to the longest.
        self._is_siglip = str(getattr(self.model.config, "model_type", "")).startswith("siglip")
        self.dim = int(getattr(self.model.config, "projection_dim", 0) or self._probe_dim())
        self._onnx: OnnxImageTower | None = None
        if self.settings.runtime == "onnx":
            if self.device.startswith("cuda"):
                log.info("embedding: runtime 'onnx' is for the CPU; the image tower runs on %s with torch", self.device)
            else:
                self._onnx = OnnxImageTower(self.model, Path(folder), self.input_size)
        self._text_cache: dict[str, NDArray[np.float32]] = {}
        self._baselines: dict[tuple[str, str], Baseline] = {}
        self.embedder = self
        log.info(
            "embedding model loaded from %s on %s (%d dims, image tower on %s)",
            folder, self.device, self.dim, "onnxruntime" if self._onnx else "torch",
        )  # fmt: skip

    def _probe_dim(self) -> int:
        return int(self.embed_texts(["probe"]).shape[1])

    def close(self) -> None:
        del self.model
        return None

    def square(self, image: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """The whole frame on a square canvas of the processor's mean colour (which normalises to zero).

        The processors resize the short side and centre-crop (CLIP) or stretch (SigLIP); a 16:9 camera frame would
        lose 44% of its width to the crop, so events at the edges would never be seen. Letterboxed, it is all seen.
        """
        h, w = image.shape[:2]
        if h == w:
            return image
        side = max(h, w)
        canvas = np.empty((side, side, 3), dtype=np.uint8)
        canvas[:] = self._fill
        top, left = (side - h) // 2, (side - w) // 2
        canvas[top : top + h, left : left + w] = image
        return canvas

    def image_inputs(self, images: list[NDArray[np.uint8]]) -> Any:
        """``pixel_values`` for whole frames: letterboxed, then the checkpoint's own image processor."""
        return self.image_processor(images=[self.square(i) for i in images], return_tensors="pt")["pixel_values"]

    def text_inputs(self, texts: list[str]) -> dict[str, Any]:
        """Token ids (and the attention mask, where the tokenizer gives one) as the checkpoint was trained on them."""
        if self._is_siglip:  # trained on texts padded to 64 tokens, as transformers' zero-shot pipeline pads them
            padded = self.tokenizer(texts, padding="max_length", max_length=SIGLIP_TEXT_TOKENS, truncation=True,
                                    return_tensors="pt")  # fmt: skip
            return dict(padded)
        return dict(self.tokenizer(texts, padding=True, truncation=True, return_tensors="pt"))

    def embed_images(self, images: list[NDArray[np.uint8]]) -> NDArray[np.float32]:
        """L2-normalised image embeddings of whole frames, one row per image."""
        torch = self._torch
        if self._onnx is not None:
            return _normalise(self._onnx.features(self.image_inputs(images).numpy()))
        pixels = self.image_inputs(images).to(self.device, dtype=torch_dtype(self.device))
        with torch.inference_mode():
            feats = _features(self.model.get_image_features(pixel_values=pixels))
        return _normalise(feats.float().cpu().numpy())

    def embed_texts(self, texts: list[str]) -> NDArray[np.float32]:
        """L2-normalised text embeddings, one row per text."""
        torch = self._torch
        batch = self.text_inputs(texts)
        mask = batch.get("attention_mask")
        with torch.inference_mode():
            feats = _features(
                self.model.get_text_features(
                    input_ids=batch["input_ids"].to(self.device),
                    attention_mask=mask.to(self.device) if mask is not None else None,
                )
            )
        return _normalise(feats.float().cpu().numpy())

    def text_embedding(self, text: str) -> NDArray[np.float32]:
        cached = self._text_cache.get(text)
        if cached is None:
            cached = self._text_cache[text] = self.embed_texts([text])[0]
        return cached

    def score(self, window: Window, queries: list[Query]) -> WindowScores:
        return self.score_batch([(window, queries)])[0]

    def score_batch(self, jobs: Sequence[ScoreJob]) -> list[WindowScores]:
        """Score windows of several cameras with one pass of the image tower over all their new frames."""
        t0 = time.perf_counter()
        images = [f.image for window, _ in jobs for f in window.new_frames]
        try:
            embeds = (
                np.concatenate([self.embed_images(images[i : i + _BATCH]) for i in range(0, len(images), _BATCH)])
                if images
                else np.empty((0, self.dim), np.float32)
            )
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"embedding: inference failed: {exc}") from exc
        share = (time.perf_counter() - t0) / max(1, len(jobs))
        out, offset = [], 0
        for window, queries in jobs:
            n = len(window.new_frames)
            out.append(self._calibrate(window, queries, embeds[offset : offset + n], share))
            offset += n
        return out

    def _calibrate(
        self, window: Window, queries: list[Query], embeds: NDArray[np.float32], latency_s: float
    ) -> WindowScores:
        t0 = time.perf_counter()
        scores: dict[str, NDArray[np.float32]] = {}
        for query in queries:
            sims = embeds @ self.text_embedding(query.text)
            baseline = self._baselines.setdefault((window.camera, query.id), Baseline())
            values = np.full(len(window.frames), MIN_SCORE, dtype=np.float32)
            for i, sim in enumerate(sims):
                values[window.new_from + i] = baseline.score(float(sim))
            scores[query.id] = values
        full = np.zeros((len(window.frames), embeds.shape[1]), dtype=np.float32)
        full[window.new_from :] = embeds
        return WindowScores(
            window, self.name, scores, semantic=True, latency_s=latency_s + time.perf_counter() - t0, embeddings=full
        )


def _side_values(size: Any) -> list[int]:
    if isinstance(size, dict):
        return [int(v) for v in size.values() if isinstance(v, int)]
    for attr in ("height", "width", "shortest_edge"):
        if getattr(size, attr, None):
            return [int(getattr(size, attr))]
    return [int(size)] if isinstance(size, int) else [224]


def _features(out: Any) -> Any:
    """``get_*_features`` returns a tensor in some transformers versions and an output object in others."""
    if hasattr(out, "pooler_output") and not hasattr(out, "shape"):
        return out.pooler_output
    return out


def _normalise(x: NDArray[np.float32]) -> NDArray[np.float32]:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    out: NDArray[np.float32] = (x / np.maximum(norms, 1e-12)).astype(np.float32)
    return out
