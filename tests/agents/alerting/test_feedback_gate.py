"""The feedback gate's rule, case by case: an alert like a rejected one is held back, unless it is more like a
confirmed one of the same query ("the courier again", not "the neighbour's cat again")."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from numpy.typing import NDArray

from agents.alerting import Alert, AlertKind
from agents.alerting.feedback import FeedbackGate


def _alert(embedding: NDArray[np.float32], query: str = "door") -> Alert:
    return Alert("a1", AlertKind.NEW, "porch", query, "a person at the door", 0.0, 1.0, 1000.0, 1001.0, 4.0, 0.5,
                 "embedding", True, peak_embedding=embedding)  # fmt: skip


def _unit(*values: float) -> NDArray[np.float32]:
    v = np.array(values, np.float32)
    return v / np.linalg.norm(v)


CAT = _unit(1.0, 0.0, 0.0)  # marked wrong
COURIER = _unit(0.9, 0.436, 0.0)  # marked right: cos(CAT, COURIER) = 0.9


def test_like_a_rejected_alert_and_like_no_confirmed_one_is_held_back() -> None:
    gate = FeedbackGate(similarity=0.9)
    gate.learn("door", False, CAT)
    assert gate.holds_back(_alert(_unit(1.0, 0.05, 0.0)))  # cos to the cat 0.999
    assert not gate.holds_back(_alert(_unit(0.0, 1.0, 0.0)))  # like nothing marked
    assert not gate.holds_back(_alert(_unit(1.0, 0.05, 0.0), query="gate"))  # another query's marks do not count


def test_a_confirmed_alert_it_is_closer_to_wins() -> None:
    gate = FeedbackGate(similarity=0.9)
    gate.learn("door", False, CAT)
    gate.learn("door", True, COURIER)
    between = _unit(0.95, 0.30, 0.0)  # cos to the cat 0.954 (over 0.9), to the courier 0.987: closer to the courier
    assert float(between @ CAT) >= 0.9 and float(between @ COURIER) > float(between @ CAT)
    assert not gate.holds_back(_alert(between))
    nearer_the_cat = _unit(1.0, 0.1, 0.0)  # cos to the cat 0.995, to the courier 0.939
    assert float(nearer_the_cat @ CAT) > float(nearer_the_cat @ COURIER)
    assert gate.holds_back(_alert(nearer_the_cat))


def test_embeddings_need_not_be_unit_length_and_a_zero_one_is_like_nothing() -> None:
    gate = FeedbackGate(similarity=0.9)
    gate.learn("door", False, CAT * 7.0)  # embeddings as a model gives them: any length
    assert gate.holds_back(_alert(_unit(1.0, 0.05, 0.0) * 0.01))
    assert not gate.holds_back(_alert(np.zeros(3, np.float32)))  # no direction: like nothing (and no NaN warning)
    gate.learn("door", False, None)  # a mark without an embedding (GenS, activity) teaches nothing
    assert not gate.holds_back(
        Alert("a2", AlertKind.NEW, "porch", "door", "x", 0.0, 1.0, 1000.0, 1001.0, 4.0, 0.5, "gens", True)
    )  # an alert without an embedding is never held back


def test_the_similarity_is_inclusive() -> None:
    v = _unit(1.0, 0.2, 0.0)
    exact = float(v @ CAT)  # both already unit length, as the gate makes them
    gate = FeedbackGate(similarity=exact)
    gate.learn("door", False, CAT)
    assert gate.holds_back(_alert(v))  # exactly at the similarity: held back


def test_a_held_back_alerts_later_events_go_nowhere_and_others_pass() -> None:
    import asyncio

    gate = FeedbackGate(similarity=0.9)
    gate.learn("door", False, CAT)
    out: list[Alert] = []

    async def sink(event: Alert) -> None:
        out.append(event)

    gated = gate.wrap(sink)
    like_cat = _alert(_unit(1.0, 0.05, 0.0))
    other = Alert("b1", AlertKind.NEW, "porch", "door", "x", 0.0, 1.0, 1000.0, 1001.0, 4.0, 0.5, "embedding", True,
                  peak_embedding=_unit(0.0, 1.0, 0.0))  # fmt: skip

    async def run() -> None:
        await gated(like_cat)
        await gated(replace(like_cat, kind=AlertKind.UPDATE))
        await gated(replace(like_cat, kind=AlertKind.END))
        await gated(other)

    asyncio.run(run())
    assert [(e.id, e.kind) for e in out] == [("b1", AlertKind.NEW)] and gate.held_back == 1


def test_a_tie_between_a_wrong_and_a_right_mark_goes_to_the_right_one() -> None:
    gate = FeedbackGate()
    assert gate.similarity == 0.9  # the default, as the config's alerts.feedback_similarity
    gate.learn("door", False, CAT)
    gate.learn("door", True, CAT)  # the same picture marked both ways: not held back
    assert not gate.holds_back(_alert(CAT))


def test_each_held_back_alert_is_counted_and_logged_and_forgotten_at_its_end(caplog: pytest.LogCaptureFixture) -> None:
    import asyncio
    import logging

    gate = FeedbackGate(similarity=0.9)
    gate.learn("door", False, CAT)
    seen: list[Alert] = []

    async def sink(event: Alert) -> None:
        seen.append(event)

    gated = gate.wrap(sink)
    first = _alert(_unit(1.0, 0.05, 0.0))
    second = replace(first, id="a2")

    async def run() -> None:
        for alert in (first, second):
            await gated(alert)
            await gated(replace(alert, kind=AlertKind.END))

    with caplog.at_level(logging.INFO, logger="agents.alerting.feedback"):
        asyncio.run(run())
    assert seen == [] and gate.held_back == 2
    said = [r.getMessage() for r in caplog.records]
    assert said == [f"camera porch: alert {a} of door held back: it looks like one a user marked wrong"
                    for a in ("a1", "a2")]  # fmt: skip
    assert not gate._held  # their ends went through the gate: nothing of them is kept
