"""The alert policy: how per-frame scores become alerts."""

from __future__ import annotations

from pydantic import Field

from .common import Strict


class AlertSettings(Strict):
    """How per-frame scores become alerts."""

    hysteresis: float = Field(
        default=1.0,
        ge=0,
        le=4,
        description="An open alert stays open while the score is >= threshold - hysteresis.",
    )
    end_after_s: float = Field(
        default=2.0, ge=0, le=3600, description="Seconds below the stay-open level before an alert ends."
    )
    cooldown_s: float = Field(
        default=1.0, ge=0, le=86400, description="Seconds after an alert ends before the next may open."
    )
    update_interval_s: float = Field(
        default=5.0, gt=0, le=3600, description="At most one 'update' event per this interval."
    )

    feedback_similarity: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="With an embedding backend, a new alert whose peak frame is at least this similar (cosine) to "
        "one users marked wrong, and more similar to it than to any marked right, is held back.",
    )
