"""Users' marks on alerts ("right", "wrong"): stored with the alert's peak embedding, and taught to the feedback gate
so alerts like one marked wrong are held back."""

from __future__ import annotations

import asyncio
import collections
import logging
import time

import numpy as np
from numpy.typing import NDArray

from ..alerting import AlertKind
from ..memory.records import Feedback
from .port import AlertEvent
from .running import Running

__all__ = ["Marks"]

log = logging.getLogger(__name__)

_EMBEDDINGS_KEPT = 4096


class Marks:
    """Recent alerts' peak embeddings (an alert listener keeps them), for the marks users give those alerts."""

    def __init__(self) -> None:
        self._embeddings: collections.OrderedDict[str, NDArray[np.float32]] = collections.OrderedDict()

    async def keep_embedding(self, event: AlertEvent) -> None:
        """An alert listener: remember an ended alert's peak embedding (the newest few thousand)."""
        alert = event.alert
        if alert.kind is AlertKind.END and alert.peak_embedding is not None:
            self._embeddings[alert.id] = alert.peak_embedding
            while len(self._embeddings) > _EMBEDDINGS_KEPT:
                self._embeddings.popitem(last=False)

    async def mark(self, run: Running, alert_id: str, match: bool) -> Feedback | None:
        """Store a user's mark on a remembered alert and teach it to the feedback gate; None for no such alert."""
        moment = await asyncio.to_thread(run.memory.get, alert_id)
        if moment is None or moment.kind != "alert" or not moment.queries:
            return None
        query_id = next(iter(moment.queries))
        mark = Feedback(alert_id, query_id, match, time.time(), self._embeddings.get(alert_id))
        await asyncio.to_thread(run.memory.set_feedback, mark)
        run.gate.learn(query_id, match, mark.vector)
        log.info("alert %s of %s marked %s", alert_id, query_id, "right" if match else "wrong")
        return mark
