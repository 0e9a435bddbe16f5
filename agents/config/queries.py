"""The standing queries: the questions in plain language, where and when they are watched."""

from __future__ import annotations

from pydantic import Field, StrictBool

from .common import ActiveWindow, Identifier, Score, Strict


class QueryConfig(Strict):
    """A standing question watched on every frame."""

    id: Identifier = Field(description="Query id used in topics and alerts.")
    text: str = Field(min_length=1, max_length=500, description="The question in plain language.")
    cameras: list[Identifier] = Field(
        default_factory=list, description="Camera ids this query applies to; empty means all cameras."
    )
    threshold: Score = Field(default=3.0, description="Relevance (1-5, GenS's scale) at which an alert opens.")
    zones: list[Identifier] = Field(
        default_factory=list,
        description="Zones (of cameras[].zones) the query looks at: each is scored on its own crop, the rest of the "
        "crop blacked out; empty means the whole frame.",
    )
    armed: StrictBool = Field(default=True, description="Whether the query is watched; disarmed, it costs no scoring.")
    disarmed: list[Identifier] = Field(
        default_factory=list, description="Cameras on which the query is disarmed while it stays armed on the others."
    )
    active: list[ActiveWindow] = Field(
        default_factory=list,
        description="Times of day the query is watched, like '22:00-06:00' (in the config's timezone); empty "
        "means always.",
    )
