"""The scoring model behind its breaker: faults leave windows unscored (or to a fallback), the outage is told as it
begins and ends, the model is probed until it answers, and a bug is never mistaken for a fault.

Faults are injected at the lowest layer a scorer has: its batch call raises the :class:`ModelFault` the client
boundary would raise (the remote client's own mapping of HTTP failures is tested in test_openai_vlm.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np
import pytest

from agents.alerting import Alert, AlertKind, ContextKeyframe, Scheduler
from agents.config import AlertSettings
from agents.models import FaultKind, ModelFault
from agents.scoring import InferenceLimiter, Query, ScoringGuard, WindowScores
from agents.scoring.activity import ActivityScorer
from agents.scoring.base import ScoreJob
from agents.scoring.breaker import Breaker, BreakerState
from streamer import Frame, FrameBuffer, OverflowPolicy, Window
from tests.helpers import wait_until


class SwitchableScorer(ActivityScorer):
    """Scores every frame 5 (a semantic stand-in), or, while ``down``, raises the fault a model client would."""

    name = "switchable"
    semantic = True

    def __init__(self) -> None:
        super().__init__()
        self.down: ModelFault | None = None
        self.calls = 0
        self.bug: Exception | None = None

    def score_batch(self, jobs: Sequence[ScoreJob]) -> list[WindowScores]:
        self.calls += 1
        if self.bug is not None:
            raise self.bug
        if self.down is not None:
            raise self.down
        return [
            WindowScores(w, self.name, {q.id: np.full(len(w.frames), 5.0, np.float32) for q in qs}) for w, qs in jobs
        ]


def _job(seq: int = 0) -> ScoreJob:
    frame = Frame("cam", seq, float(seq), 1000.0 + seq, np.zeros((8, 8, 3), np.uint8))
    return Window("cam", (frame,)), [Query("q", "a person")]


def _state(breaker: Breaker) -> BreakerState:
    return breaker.state  # read anew: the breaker's methods change it


BUSY = ModelFault(FaultKind.OVERLOADED, "stand-in: answered 503", retry_after_s=3.0)
DOWN = ModelFault(FaultKind.UNAVAILABLE, "stand-in: connection refused")


# -- the breaker alone ------------------------------------------------------------------------------------


def test_the_breaker_opens_on_a_fault_probes_after_a_wait_and_closes_on_success() -> None:
    breaker = Breaker(probe_base_s=1.0, probe_cap_s=4.0)
    assert breaker.allow(0.0)
    assert breaker.failed(DOWN, 10.0) is True  # an outage begins
    assert breaker.state is BreakerState.OPEN and breaker.since == 10.0
    assert 10.0 <= breaker.next_probe <= 14.0
    assert not breaker.allow(breaker.next_probe - 0.001)
    assert breaker.allow(breaker.next_probe)  # the probe
    assert _state(breaker) is BreakerState.HALF_OPEN and not breaker.allow(breaker.next_probe + 1)  # one probe at once
    assert breaker.failed(DOWN, 20.0) is False  # the same outage goes on, since 10 s
    assert breaker.since == 10.0 and 20.0 <= breaker.next_probe <= 24.0
    assert breaker.allow(30.0) and breaker.succeeded() is True
    assert _state(breaker) is BreakerState.CLOSED and breaker.since is None and breaker.last_fault is None
    assert breaker.succeeded() is False  # nothing was wrong


def test_the_breaker_honours_retry_after_under_its_cap_and_can_wait_for_several_faults() -> None:
    breaker = Breaker(probe_base_s=0.001, probe_cap_s=4.0)
    breaker.failed(BUSY, 0.0)
    assert breaker.next_probe == pytest.approx(3.0)  # the server's 3 s, not the 1 ms backoff
    breaker.failed(ModelFault(FaultKind.OVERLOADED, "busy", retry_after_s=600.0), 5.0)
    assert breaker.next_probe == pytest.approx(9.0)  # capped: a recovered server is noticed within the cap
    patient = Breaker(open_after=3)
    assert not patient.failed(DOWN, 0.0) and not patient.failed(DOWN, 1.0)
    assert patient.state is BreakerState.CLOSED and patient.allow(1.5)
    assert patient.failed(DOWN, 2.0) is True and _state(patient) is BreakerState.OPEN


# -- the guard -------------------------------------------------------------------------------------------


async def test_the_guard_counts_faults_tells_the_outage_and_stops_calling_until_a_probe_is_due() -> None:
    now = [0.0]
    scorer = SwitchableScorer()
    guard = ScoringGuard(scorer, InferenceLimiter(), breaker=Breaker(probe_base_s=1.0, probe_cap_s=2.0),
                         clock=lambda: now[0])  # fmt: skip
    told: list[str | None] = []
    guard.on_outage(told.append)
    assert [r is not None for r in await guard.score([_job(0), _job(1)])] == [True, True]
    scorer.down = BUSY
    assert await guard.score([_job(2), _job(3)]) == [None, None]
    assert guard.down and guard.unscored_windows == 2 and guard.faults["overloaded"] == 1
    [text] = told
    assert text is not None and text.startswith("scorer switchable is unavailable since ")
    assert "(overloaded: stand-in: answered 503)" in text and guard.describe() == text
    calls = scorer.calls
    assert await guard.score([_job(4)]) == [None]  # open: the model is left alone
    assert scorer.calls == calls and guard.unscored_windows == 3
    now[0] = 5.0
    assert await guard.score([_job(5)]) == [None]  # the probe, which fails
    assert scorer.calls == calls + 1 and told == [text] and guard.outage_s() == 5.0
    scorer.down = None
    now[0] = 10.0
    assert [r is not None for r in await guard.score([_job(6)])] == [True]
    assert told == [text, None] and not guard.down and guard.outage_s() == 0.0


async def test_the_fallback_scores_what_the_model_could_not() -> None:
    scorer = SwitchableScorer()
    scorer.down = DOWN
    guard = ScoringGuard(scorer, InferenceLimiter(), fallback=ActivityScorer())
    [result] = await guard.score([_job(0)])
    assert result is not None and result.backend == "activity" and result.semantic is False
    assert guard.fallback_windows == 1 and guard.unscored_windows == 0
    assert "the activity scorer (not semantic) watches meanwhile" in (guard.describe() or "")


async def test_a_bug_is_not_a_fault_and_out_of_memory_is_one() -> None:
    scorer = SwitchableScorer()
    guard = ScoringGuard(scorer, InferenceLimiter())
    scorer.bug = KeyError("a bug of ours")
    with pytest.raises(KeyError):
        await guard.score([_job(0)])
    assert not guard.down and sum(guard.faults.values()) == 0

    class OutOfMemoryError(RuntimeError):  # named as torch names CUDA's
        pass

    scorer.bug = OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    assert await guard.score([_job(1)]) == [None]
    assert guard.faults["out_of_memory"] == 1 and "out_of_memory" in (guard.describe() or "")


# -- the scheduler across an outage --------------------------------------------------------------------------


async def test_an_open_alert_survives_a_short_outage_and_ends_after_the_limit_with_its_reason() -> None:
    now = [0.0]
    scorer = SwitchableScorer()
    buf = FrameBuffer("cam", max_seconds=10_000, max_bytes=10**9, policy=OverflowPolicy.BLOCK)
    events: list[Alert] = []

    async def collect(event: Alert | ContextKeyframe) -> None:
        if isinstance(event, Alert):
            events.append(event)

    guard = ScoringGuard(scorer, InferenceLimiter(), clock=lambda: now[0])
    scheduler = Scheduler(scorer, {"cam": buf}, [Query("q", "a person")], AlertSettings(), collect, guard=guard,
                          outage_end_s=60.0)  # fmt: skip
    task = asyncio.create_task(scheduler.run())
    seq = 0

    async def frames(n: int) -> None:
        nonlocal seq
        for _ in range(n):
            await buf.put(Frame("cam", seq, float(seq), 1000.0 + seq, np.zeros((8, 8, 3), np.uint8)))
            seq += 1
            scheduler.notify()
        await wait_until(lambda: buf.unconsumed() == 0, what="the frames to be consumed")

    await frames(3)
    assert [e.kind for e in events] == [AlertKind.NEW]
    scorer.down = DOWN
    await frames(3)
    now[0] = 30.0  # half the limit: the alert stays open, though nothing is heard
    await frames(3)
    assert [e.kind for e in events] == [AlertKind.NEW] and scheduler.counters["cam"].unscored == 6
    now[0] = 61.0
    await frames(1)
    end = events[-1]
    assert end.kind is AlertKind.END and end.reason == "scorer_unavailable" and end.id == events[0].id
    assert end.to_payload()["reason"] == "scorer_unavailable"
    scorer.down = None
    now[0] = 70.0
    await frames(2)
    assert events[-1].kind is AlertKind.NEW and events[-1].id != end.id  # watching again
    await buf.close()
    scheduler.notify()
    await asyncio.wait_for(task, 30)
    last = events[-1]
    assert last.kind is AlertKind.END and last.reason is None
