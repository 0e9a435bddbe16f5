from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from agents.alerting import Alert, AlertKind, AlertPolicy
from agents.config import AlertSettings
from agents.scoring import Query
from streamer import Frame


def _run(scores: Sequence[float], **settings: float) -> list[Alert]:
    policy = AlertPolicy("cam", Query("q", "a person", threshold=3.0), AlertSettings(**settings))
    events: list[Alert] = []
    for i, s in enumerate(scores):
        frame = Frame("cam", i, float(i), 1000.0 + i, np.zeros((2, 2, 3), np.uint8), snapshot=f"jpg{i}".encode())
        events += policy.feed(frame, s, "test", True)
    events += policy.flush("test", True)
    return events


def _spans(events: list[Alert]) -> list[tuple[float, float]]:
    return [(e.start_pts, e.end_pts) for e in events if e.kind is AlertKind.END]


def test_one_alert_per_episode_with_start_end_and_peak() -> None:
    events = _run([1, 1, 4, 5, 4, 1, 1, 1, 1])
    assert [e.kind for e in events] == [AlertKind.NEW, AlertKind.END]
    new, end = events
    assert new.id == end.id
    assert (end.start_pts, end.end_pts) == (2.0, 4.0)
    assert end.peak_score == 5.0 and end.peak_pts == 3.0
    assert end.snapshot == b"jpg3"  # the best frame
    assert end.start_wall == 1002.0


def test_hysteresis_keeps_a_wobbling_alert_open() -> None:
    # Dips to 2.5 last 3 s, longer than end_after_s (2 s): only the hysteresis keeps the alert open through them
    # (2.5 is above threshold - hysteresis = 2.0); without it the same scores make three alerts.
    wobbling = [4, 2.5, 2.5, 2.5, 4, 2.5, 2.5, 2.5, 4, 1, 1, 1]
    settings = {"end_after_s": 2.0, "cooldown_s": 0.0}
    assert _spans(_run(wobbling, hysteresis=1.0, **settings)) == [(0.0, 8.0)]
    assert _spans(_run(wobbling, hysteresis=0.0, **settings)) == [(0.0, 0.0), (4.0, 4.0), (8.0, 8.0)]


def test_short_dips_do_not_end_an_alert() -> None:
    assert _spans(_run([4, 1, 4, 1, 1, 1], end_after_s=2.0)) == [(0.0, 2.0)]


def test_cooldown_suppresses_immediate_reopening() -> None:
    scores = [4, 1, 1, 4, 4, 1, 1, 1]
    assert len(_spans(_run(scores, end_after_s=2.0, cooldown_s=0.0))) == 2
    assert len(_spans(_run(scores, end_after_s=2.0, cooldown_s=5.0))) == 1


def test_updates_when_the_peak_rises_rate_limited() -> None:
    events = _run([3, 3.5, 4, 4.5, 5, 5, 5, 1, 1, 1], update_interval_s=2.0)
    updates = [e for e in events if e.kind is AlertKind.UPDATE]
    assert [u.peak_score for u in updates] == [4.0, 5.0]
    assert len({e.id for e in events}) == 1


def test_flush_ends_an_open_alert_at_its_last_relevant_frame() -> None:
    events = _run([1, 4, 4, 4])
    assert _spans(events) == [(1.0, 3.0)]


def test_payload_names_backend_and_semantics() -> None:
    end = _run([4, 1, 1, 1])[-1]
    payload = end.to_payload()
    assert payload["type"] == "end"
    assert payload["backend"] == "test" and payload["semantic"] is True
    assert payload["query_id"] == "q" and payload["camera"] == "cam"
