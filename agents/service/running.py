"""What exists only while the service runs: the memory, the stages and the handles of each camera's reader."""

from __future__ import annotations

import asyncio
import contextlib

from ..alerting import Scheduler
from ..alerting.feedback import FeedbackGate
from ..memory.backend import Memory
from ..qa.asker import Asker
from .clips import Clipper
from .output import OutputStage
from .queries import StandingQueries
from .recording import MomentRecorder

__all__ = ["Running"]


class Running:
    """The running pipeline's parts, assembled once the scorer and the memory are open."""

    def __init__(self, memory: Memory, scheduler: Scheduler, queries: StandingQueries, asker: Asker,
                 output: OutputStage, recorder: MomentRecorder, clipper: Clipper,
                 gate: FeedbackGate) -> None:  # fmt: skip
        self.memory = memory
        self.scheduler = scheduler
        self.queries = queries
        self.asker = asker
        self.output = output
        self.recorder = recorder
        self.clipper = clipper
        self.gate = gate
        self.tasks: asyncio.TaskGroup | None = None  # the stages' group, once they run
        self.ingest: dict[str, asyncio.Task[None]] = {}
        self.readers: dict[str, contextlib.AsyncExitStack] = {}  # each camera's reader, closed on its own
