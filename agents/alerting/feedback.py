"""Users' marks as calibration: an alert that looks like one they rejected is held back.

With an embedding backend every alert carries its peak frame's embedding, and every mark keeps the embedding of
the alert it was given on. A new alert of a query is held back (never published or remembered) when its peak frame
is at least ``similarity`` (cosine) like one of that query's rejected alerts and more like it than like any of
the query's confirmed ones: "that was the neighbour's cat again", but not "that was the courier again". Backends
without embeddings (GenS, activity) hold nothing back; their marks still count in ``feedwatch eval --feedback``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from .alert import Alert, AlertKind

__all__ = ["FeedbackGate"]

log = logging.getLogger(__name__)

E = TypeVar("E")
_KEEP = 256  # examples kept per query and kind (the newest)


def _unit(vector: NDArray[np.float32]) -> NDArray[np.float32]:
    v = np.asarray(vector, np.float32).ravel()
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


class FeedbackGate:
    """Holds back the events of alerts that look like a rejected one (see the module's docstring)."""

    def __init__(self, similarity: float = 0.9) -> None:
        self.similarity = similarity
        self._examples: dict[tuple[str, bool], list[NDArray[np.float32]]] = {}
        self._held: set[str] = set()
        self.held_back = 0  # alerts held back since the start

    def learn(self, query_id: str, match: bool, vector: NDArray[np.float32] | None) -> None:
        """One more mark on an alert of ``query_id`` (with its peak embedding, if the backend gives one)."""
        if vector is None:
            return
        examples = self._examples.setdefault((query_id, match), [])
        examples.append(_unit(vector))
        del examples[:-_KEEP]

    def learn_all(self, marks: Iterable[tuple[str, bool, NDArray[np.float32] | None]]) -> None:
        for query_id, match, vector in marks:
            self.learn(query_id, match, vector)

    def _closest(self, query_id: str, match: bool, v: NDArray[np.float32]) -> float:
        examples = self._examples.get((query_id, match))
        if not examples or examples[0].shape != v.shape:
            return -1.0
        return float(np.max(np.stack(examples) @ v))

    def holds_back(self, alert: Alert) -> bool:
        """Whether ``alert`` (a ``new`` event) looks like a rejected alert of its query more than a confirmed one."""
        if alert.peak_embedding is None:
            return False
        v = _unit(alert.peak_embedding)
        rejected = self._closest(alert.query_id, False, v)
        return rejected >= self.similarity and rejected > self._closest(alert.query_id, True, v)

    def wrap(self, on_alert: Callable[[E], Awaitable[None]]) -> Callable[[E], Awaitable[None]]:
        """``on_alert`` behind the gate: events of held-back alerts go nowhere; everything else passes."""

        async def gated(event: E) -> None:
            if isinstance(event, Alert):
                if event.kind is AlertKind.NEW and self.holds_back(event):
                    self._held.add(event.id)
                    self.held_back += 1
                    log.info("camera %s: alert %s of %s held back: it looks like one a user marked wrong",
                             event.camera, event.id, event.query_id)  # fmt: skip
                if event.id in self._held:
                    if event.kind is AlertKind.END:
                        self._held.discard(event.id)
                    return
            await on_alert(event)

        return gated
