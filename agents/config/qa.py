"""Question answering: the model that answers questions about what was remembered."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .common import Strict


class QAConfig(Strict):
    """The model that answers questions over remembered footage."""

    backend: Literal["none", "transformers", "openai"] = Field(
        default="none",
        description="'none' answers extractively with the matching moments and their times; 'transformers' runs "
        "a Qwen2.5-VL class model locally; 'openai' asks an OpenAI-compatible vision endpoint.",
    )
    model: str = Field(
        default="Qwen/Qwen2.5-VL-3B-Instruct",
        description="transformers: hub id (looked up in the local cache) or folder; openai: the served model's name.",
    )
    base_url: str = Field(default="http://127.0.0.1:8000/v1", description="openai: the server's API root.")
    api_key: str | None = Field(default=None, description="openai: bearer token; use a ${ENV} placeholder.")
    device: str = Field(default="auto", description="transformers: 'auto', 'cuda' or 'cpu'.")
    max_new_tokens: int = Field(default=256, ge=8, le=4096, description="Cap on the answer's tokens.")
    frame_budget: int = Field(default=8, ge=1, le=64, description="Frames the answering model sees at most.")
    image_side: int = Field(default=448, ge=64, le=2048, description="Frames are sent at most this many pixels wide.")
    clip_fps: float = Field(
        default=4.0,
        gt=0,
        le=30,
        description="Asked about one alert, the answering model sees frames sampled from its clip at this rate "
        "(within frame_budget), so brief actions between the 1 fps stills are not missed.",
    )
