"""``feedwatch eval``: annotations, the metrics of alerts against events, and replays through the pipeline."""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamer.lazy import lazy_exports

if TYPE_CHECKING:
    from .annotations import Annotation as Annotation
    from .annotations import load_annotation as load_annotation
    from .metrics import QueryMetrics as QueryMetrics
    from .metrics import Span as Span
    from .metrics import score_alerts as score_alerts
    from .replay import evaluate as evaluate
    from .replay import format_eval as format_eval

else:  # type checkers see the imports above; at run time each name loads on first use
    __all__, __getattr__ = lazy_exports(
        __name__,
        {
            "annotations": ("Annotation", "load_annotation"),
            "metrics": ("QueryMetrics", "Span", "score_alerts"),
            "replay": ("evaluate", "format_eval"),
        },
    )
