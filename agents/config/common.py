"""What every section of the configuration shares: the strict base model, identifiers, scores, polygons and
times of day."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

_ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
Identifier = Annotated[str, Field(pattern=_ID, description="Letters, digits, '-' and '_', at most 64 characters.")]
Score = Annotated[float, Field(ge=1.0, le=5.0)]
# The scoring backends, named once: the registry maps each to its class, the CLI offers them as choices.
ScorerName = Literal["activity", "embedding", "gens", "cascade", "openai"]
BACKEND_NAMES: tuple[str, ...] = get_args(ScorerName)


class Strict(BaseModel):
    # Numbers must be finite: an infinite size or a NaN threshold passes every bound check and breaks later.
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False)


def default_memory_dir() -> Path:
    """``$XDG_DATA_HOME/feedwatch/memory`` (``~/.local/share/feedwatch/memory`` when unset)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "feedwatch" / "memory"


Fraction01 = Annotated[float, Field(ge=0.0, le=1.0, strict=True)]
Polygon = Annotated[
    list[tuple[Fraction01, Fraction01]],
    Field(
        min_length=3,
        max_length=64,
        description="[[x, y], ...] with x and y fractions (0-1) of the frame's width and height, so they survive a "
        "resolution change; [0, 0] is the top left.",
    ),
]
ActiveWindow = Annotated[
    str,
    Field(
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]-(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$",
        description="'HH:MM-HH:MM' (24-hour); one that ends before it starts runs past midnight, and one that ends "
        "where it starts is the whole day.",
    ),
]
