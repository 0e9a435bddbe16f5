"""Scoring: which backend grades the windows, its models, the change gate, and what happens when the model is away."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .common import ScorerName, Strict


class ActivitySettings(Strict):
    """The model-free activity scorer: departure from the camera's learned background."""

    pixel_threshold: float = Field(
        default=0.2, gt=0, le=10, description="Log-brightness change at which a pixel counts as changed."
    )
    min_fraction: float = Field(default=0.01, gt=0, lt=1, description="Changed fraction scored 1 (nothing).")
    max_fraction: float = Field(default=0.05, gt=0, le=1, description="Changed fraction scored 5 (certain).")
    learning_rate: float = Field(
        default=0.1, gt=0, le=1, description="Per-frame background update rate for unchanged pixels."
    )

    @model_validator(mode="after")
    def _ordered(self) -> ActivitySettings:
        if self.min_fraction >= self.max_fraction:
            raise ValueError("min_fraction must be below max_fraction")
        return self


# GenS-3B was trained on low-resolution frames: 112x112 pixels (aspect kept, sides multiples of 28).
GENS_FRAME_PIXELS = 112 * 112


class GensSettings(Strict):
    """The GenS frame-sampler backend (yaolily/GenS-qwen2d5-vl-3b)."""

    model: str = Field(
        default="yaolily/GenS-qwen2d5-vl-3b",
        description="Hugging Face model id (looked up in the local cache) or a local folder.",
    )
    device: str = Field(default="auto", description="'auto' (CUDA when present), 'cuda', 'cuda:1' or 'cpu'.")
    max_new_tokens: int = Field(default=128, ge=8, le=1024, description="Cap on generated tokens (published: 128).")
    max_frame_pixels: int = Field(
        default=GENS_FRAME_PIXELS,
        ge=28 * 28,
        le=1280 * 28 * 28,
        description="Pixel budget of each frame GenS sees (published: 112x112); aspect kept, sides multiples of 28.",
    )
    attention: Literal["auto", "sdpa", "flash_attention_2", "eager"] = Field(
        default="auto", description="Attention kernel: 'auto' is flash-attention 2 on CUDA when installed, else SDPA."
    )


class EmbeddingSettings(Strict):
    """The CLIP/SigLIP embedding backend."""

    model: str = Field(
        default="openai/clip-vit-base-patch32",
        description="Hugging Face model id (looked up in the local cache) or a local folder.",
    )
    device: str = Field(default="auto", description="'auto' (CUDA when present), 'cuda' or 'cpu'.")
    runtime: Literal["torch", "onnx"] = Field(
        default="torch",
        description="What runs the image tower on the CPU: 'torch', or 'onnx' (ONNX Runtime, exported once from "
        "the same checkpoint, fp32; 1.3x to 2.2x faster than torch on the 2-core machines measured; needs "
        "'feedwatch[onnx]'). On a GPU it is torch.",
    )


class OpenAIVLMSettings(Strict):
    """GenS-3B served by an OpenAI-compatible chat-completions server that takes video (vLLM)."""

    base_url: str = Field(default="http://127.0.0.1:8000/v1", description="The server's API root (vLLM).")
    model: str = Field(default="yaolily/GenS-qwen2d5-vl-3b", description="Model name the server knows.")
    api_key: str | None = Field(default=None, description="Bearer token; use a ${ENV} placeholder.")
    max_new_tokens: int = Field(default=128, ge=8, le=2048, description="Cap on generated tokens (published: 128).")
    max_frame_pixels: int = Field(
        default=GENS_FRAME_PIXELS,
        ge=28 * 28,
        le=1280 * 28 * 28,
        description="Pixel budget of each frame sent (published: 112x112); aspect kept, sides multiples of 28.",
    )
    timeout_s: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="Deadline of one request, retries of a refused or busy server included.",
    )
    max_in_flight: int = Field(
        default=16,
        ge=1,
        le=256,
        description="Requests sent at once, across cameras and queries, on as many keep-alive connections; a vLLM "
        "server batches them. 1 sends one request after another.",
    )


class GateSettings(Strict):
    """The change gate: model backends score a frame only when the scene changed since the last frame they saw."""

    enabled: bool = Field(
        default=True,
        description="Hold frames that show nothing new and carry the last scores forward instead of running the "
        "model (embedding, GenS, cascade, openai; the activity scorer is this measure already).",
    )
    min_change: float = Field(
        default=0.004,
        gt=0,
        lt=1,
        description="Fraction of pixels (at about 112 px on the long side) that must have changed since the last "
        "frame the model saw for a frame to reach it.",
    )
    pixel_threshold: float = Field(
        default=0.2, gt=0, le=10, description="Log-brightness change at which a pixel counts as changed."
    )
    refresh_s: float = Field(
        default=10.0, gt=0, le=3600, description="A scene held this long (stream seconds) is scored again anyway."
    )
    decay_per_s: float = Field(
        default=0.98,
        gt=0,
        le=1,
        description="Carried scores fade towards 1 by this factor per second held, so an alert still ends when a "
        "change too slow for the gate leaves the scene.",
    )
    burst_fps: float = Field(
        default=0.0,
        ge=0,
        le=30,
        description="Frame-by-frame backends (embedding): sample at this rate while the gate sees motion, then "
        "return to the camera's fps. 0 is off. Windowed backends (GenS) always keep the camera's rate.",
    )
    burst_s: float = Field(default=5.0, gt=0, le=600, description="Seconds a burst lasts after the last motion.")


class ScorerConfig(Strict):
    """Which backend scores windows against the standing queries, and how windows are cut."""

    backend: Literal["auto", ScorerName] = Field(
        default="auto",
        description="'auto' picks GenS (weights present and a GPU), else embedding (weights present), "
        "else activity. 'cascade' screens with the embedding model and sends windows that stand out to GenS; "
        "'openai' sends windows to GenS-3B behind an OpenAI-compatible server (vLLM). "
        "Naming a backend whose weights are missing is an error.",
    )
    cascade_gate: float = Field(
        default=2.5, ge=1.0, le=5.0, description="Cascade: embedding score (1-5) a window needs to reach GenS."
    )
    window: int = Field(default=16, ge=1, le=256, description="Frames per scored window.")
    stride: int = Field(default=8, ge=1, le=256, description="New frames between two windows.")
    activity: ActivitySettings = Field(default_factory=ActivitySettings, description="Activity scorer settings.")
    gens: GensSettings = Field(default_factory=GensSettings, description="GenS backend settings.")
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings, description="Embedding settings.")
    openai: OpenAIVLMSettings = Field(default_factory=OpenAIVLMSettings, description="Remote VLM settings.")
    gate: GateSettings = Field(default_factory=GateSettings, description="The change gate in front of the models.")
    fallback: Literal["none", "activity"] = Field(
        default="none",
        description="What scores while the model is unavailable (a server down, a GPU out of memory): 'none' leaves "
        "those windows unscored (counted, and open alerts stay open); 'activity' lets the model-free activity "
        "scorer watch meanwhile, and every alert it raises says semantic: false.",
    )
    outage_end_s: float = Field(
        default=120.0,
        gt=0,
        le=86400,
        description="Seconds the model may be unavailable before the alerts open on it end, with reason "
        "'scorer_unavailable' (shorter outages leave them open).",
    )

    @model_validator(mode="after")
    def _stride_fits(self) -> ScorerConfig:
        if self.stride > self.window:
            raise ValueError(f"stride ({self.stride}) must not exceed window ({self.window})")
        return self
