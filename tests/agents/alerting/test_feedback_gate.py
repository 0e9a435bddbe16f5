"""The feedback gate's rule, case by case: an alert like a rejected one is held back, unless it is more like a
confirmed one of the same query ("the courier again", not "the neighbour's cat again")."""

from __future__ import annotations

import numpy as np
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
