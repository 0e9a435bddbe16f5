"""Annotation files: the ground truth of one video, as ``feedwatch eval`` reads it.

::

    {"video": "file.mp4", "seconds": 139.4,
     "events": [{"query": "a person", "start": 7, "end": 20}, ...],
     "distractor_queries": ["a car"]}

Times are seconds from the start of the file. Files made by other tools often carry more (``fps``, a ``box``
per event): such fields are ignored, and the report names them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from streamer import jsonsafe
from streamer.errors import ConfigError

from ..config import format_validation_error

__all__ = ["AnnotatedEvent", "Annotation", "ignored_fields", "load_annotation"]

log = logging.getLogger(__name__)


class AnnotatedEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)
    query: str = Field(min_length=1, description="The standing question this event answers.")
    start: float = Field(ge=0, description="Seconds from the start of the video.")
    end: float = Field(ge=0, description="Seconds from the start of the video.")

    @model_validator(mode="after")
    def _ordered(self) -> AnnotatedEvent:
        if self.end < self.start:
            raise ValueError(f"event ends ({self.end}) before it starts ({self.start})")
        return self


class Annotation(BaseModel):
    """Ground truth for one video. Fields other tools add (``fps``, a ``box`` per event) are ignored and named."""

    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)
    video: str = Field(
        min_length=1, pattern=r"^[^\x00-\x1f]+$", description="The video file, relative to the annotation file."
    )
    seconds: float = Field(gt=0, description="Length of the video in seconds.")
    events: list[AnnotatedEvent] = Field(default_factory=list, description="What happened, per query.")
    distractor_queries: list[str] = Field(default_factory=list, description="Queries that must never alert.")


def load_annotation(path: Path) -> tuple[Annotation, list[str]]:
    """Read and validate one annotation file, and name the fields it ignored; :class:`ConfigError` says what is
    wrong and where."""
    try:
        data = jsonsafe.loads(path.read_bytes())
    except FileNotFoundError:
        raise ConfigError(f"annotation {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read annotation {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:  # not JSON, not UTF-8, too deep, NaN
        raise ConfigError(f"annotation {path} is not usable JSON: {exc}") from None
    try:
        annotation = Annotation.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"annotation {path} is invalid:\n  " + "\n  ".join(format_validation_error(exc))) from None
    ignored = ignored_fields(data)
    if ignored:
        log.info("annotation %s: ignoring fields feedwatch does not use: %s", path, ", ".join(ignored))
    return annotation, ignored


def ignored_fields(data: Any) -> list[str]:
    """The fields of an annotation (and of its events) that feedwatch does not read, as key paths."""
    if not isinstance(data, dict):
        return []
    known, event_known = set(Annotation.model_fields), set(AnnotatedEvent.model_fields)
    found = [key for key in data if key not in known]
    events = data.get("events")
    for event_key in sorted({k for e in events if isinstance(e, dict) for k in e} if isinstance(events, list) else []):
        if event_key not in event_known:
            found.append(f"events[].{event_key}")
    return found
