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


def _feed(policy: AlertPolicy, scores: Sequence[float], start: float = 0.0) -> list[Alert]:
    """Frames 1 s apart from pts ``start``, each with its own embedding (its seq) and zone."""
    events: list[Alert] = []
    for i, s in enumerate(scores):
        pts = start + i
        frame = Frame("cam", int(pts), pts, 1000.0 + pts, np.zeros((2, 2, 3), np.uint8), snapshot=b"jpg")
        embedding = np.full(4, pts, np.float32)
        events += policy.feed(frame, s, "embedding", True, embedding, zone=f"z{int(pts)}")
    return events


def test_every_event_carries_the_alert_as_it_stands() -> None:
    """Each field of new, update and end events, from the frame that made the peak; ids are stable 16-hex
    names of camera, query and start time."""
    policy = AlertPolicy("cam", Query("q", "a person", threshold=3.0), AlertSettings(update_interval_s=1.0))
    new, update = _feed(policy, [4.0, 5.0])
    [end] = policy.flush("embedding", True)
    for event in (new, update, end):
        assert (event.camera, event.query_id, event.query_text) == ("cam", "q", "a person")
        assert (event.backend, event.semantic, event.start_pts, event.start_wall) == ("embedding", True, 0.0, 1000.0)
        assert event.id == new.id and len(event.id) == 16 and int(event.id, 16) >= 0
    assert new.kind is AlertKind.NEW and update.kind is AlertKind.UPDATE and end.kind is AlertKind.END
    assert (new.peak_score, new.peak_seq, new.peak_wall, new.zone) == (4.0, 0, 1000.0, "z0")
    assert new.peak_embedding is not None and float(new.peak_embedding[0]) == 0.0
    assert (update.peak_score, update.peak_seq, update.peak_wall, update.zone) == (5.0, 1, 1001.0, "z1")
    assert end.end_pts == 1.0 and end.peak_seq == 1 and end.reason is None
    assert end.peak_embedding is not None and float(end.peak_embedding[0]) == 1.0
    again = AlertPolicy("cam", Query("q", "another text", threshold=3.0), AlertSettings())
    assert _feed(again, [4.0])[0].id == new.id  # the same camera, query and start: the same id


def test_the_first_frame_stays_the_peak_unless_beaten() -> None:
    policy = AlertPolicy("cam", Query("q", "x", threshold=3.0), AlertSettings())
    _feed(policy, [4.0, 4.0, 3.5])  # a tie is not a new peak
    [end] = policy.flush("activity", False)
    assert (end.peak_pts, end.zone, end.backend, end.semantic) == (0.0, "z0", "activity", False)
    assert end.peak_embedding is not None and float(end.peak_embedding[0]) == 0.0


def test_a_score_at_the_stay_level_keeps_the_alert_and_the_end_counts_from_the_last_relevant_frame() -> None:
    settings = AlertSettings(hysteresis=1.0, end_after_s=2.0, cooldown_s=0.0)
    policy = AlertPolicy("cam", Query("q", "x", threshold=3.0), settings)
    events = _feed(policy, [4.0, 2.0, 2.0, 1.0, 1.0], start=100.0)  # 2.0 = threshold - hysteresis: still relevant
    assert [e.kind for e in events] == [AlertKind.NEW, AlertKind.END]
    assert (events[1].end_pts, events[1].end_wall) == (102.0, 1102.0)
    # Far from pts 0, a frame 1 s after the last relevant one does not end it (the gap counts, not the times).
    late = AlertPolicy("cam", Query("q", "x", threshold=3.0), settings)
    assert [e.kind for e in _feed(late, [4.0, 1.0, 4.0], start=100.0)] == [AlertKind.NEW]


def test_cooldown_holds_exactly_its_length_and_counts_after_a_flush_too() -> None:
    settings = AlertSettings(end_after_s=2.0, cooldown_s=2.0, hysteresis=0.0)
    policy = AlertPolicy("cam", Query("q", "x", threshold=3.0), settings)
    events = _feed(policy, [4.0, 1.0, 1.0, 1.0, 4.0])  # ends at pts 2; pts 4 is cooldown_s later: opens again
    assert [e.kind for e in events] == [AlertKind.NEW, AlertKind.END, AlertKind.NEW]
    flushed = AlertPolicy("cam", Query("q", "x", threshold=3.0), AlertSettings(cooldown_s=5.0))
    _feed(flushed, [4.0])
    assert [e.kind for e in flushed.flush("activity", False)] == [AlertKind.END]
    assert _feed(flushed, [4.0], start=1.0) == []  # within the cooldown after the flushed alert's end
