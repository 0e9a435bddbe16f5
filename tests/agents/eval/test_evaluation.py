"""Eval: the metric arithmetic on hand-made cases, and a real replay of the annotated sample clip."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.eval import Span, load_annotation, score_alerts
from streamer import ConfigError
from tests.helpers import PERSON_TRUTH, run_cli

EVENTS = [Span(10, 20), Span(30, 40)]


def test_one_alert_spanning_two_events_detects_both() -> None:
    m = score_alerts(EVENTS, [Span(12, 35)], query="q")
    assert (m.events, m.detected, m.alerts, m.false_alerts) == (2, 2, 1, 0)
    assert m.event_recall == 1.0
    assert m.onset_latencies == [2.0, -18.0]  # the alert began 18 s before the second event
    assert m.ious == pytest.approx([8 / 25, 5 / 28])


def test_an_alert_before_the_event_is_false_and_the_event_missed() -> None:
    m = score_alerts([Span(30, 40)], [Span(5, 8)], query="q")
    assert (m.detected, m.false_alerts) == (0, 1)
    assert m.event_recall == 0.0
    assert m.onset_latencies == [] and m.ious == []


def test_no_alert_at_all() -> None:
    m = score_alerts(EVENTS, [], query="q")
    assert (m.detected, m.alerts, m.false_alerts, m.event_recall) == (0, 0, 0, 0.0)
    d = m.to_dict(hours=0.5)
    assert d["onset_latency_s"] == {"p50": None, "p95": None} and d["temporal_iou"] is None
    assert d["false_alerts_per_hour"] == 0.0


def test_every_distractor_alert_is_false_and_rates_are_per_hour() -> None:
    m = score_alerts([], [Span(1, 2), Span(50, 60)], query="a car", distractor=True)
    assert m.false_alerts == 2 and m.event_recall is None
    assert m.to_dict(hours=0.25)["false_alerts_per_hour"] == 8.0


def test_exact_fit_and_latency() -> None:
    m = score_alerts([Span(10, 20)], [Span(11, 20)], query="q")
    assert m.onset_latencies == [1.0] and m.ious == [pytest.approx(0.9)]


def test_bad_annotations_are_clear(tmp_path: Path) -> None:
    bad = tmp_path / "a.json"
    bad.write_text('{"video": "x.mp4", "seconds": 10, "events": [{"query": "q", "start": 5, "end": 2}]}')
    with pytest.raises(ConfigError, match="ends"):
        load_annotation(bad)
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_annotation(bad)


@pytest.mark.slow
def test_eval_on_the_annotated_clip(media: Path) -> None:
    result = run_cli("eval", str(PERSON_TRUTH), "--json", timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["scorer"] == "activity" and report["semantic"] is False
    rows = {q["query"]: q for q in report["queries"]}
    person = rows["a person"]
    assert person["events"] == 6 and person["event_recall"] == 1.0 and person["false_alerts"] == 0
    assert person["onset_latency_s"]["p50"] is not None and abs(person["onset_latency_s"]["p50"]) <= 1.0
    assert person["temporal_iou"] > 0.8
    # The activity scorer cannot tell a car from a person: the distractors fire, and the report says so.
    assert rows["a car"]["distractor"] and rows["a car"]["false_alerts"] == 6
    assert report["overall"]["false_alerts"] == 12
    assert "ignores the query text" in report["note"]
    assert report["overall"]["false_alerts_per_hour"] == pytest.approx(12 / (139.4 / 3600), rel=0.01)
    # The activity scorer is the gate's own measure: it ran on every frame.
    assert report["model_frames"]["to_model"] == report["model_frames"]["frames"] >= 139
    table = run_cli("eval", str(PERSON_TRUTH), timeout=300)
    assert table.returncode == 0 and "a person" in table.stdout and "overall" in table.stdout


def test_the_change_gate_lets_every_event_reach_the_model(media: Path, tmp_path: Path) -> None:
    """With the embedding model behind the gate, the model skips frames, and every annotated visit reaches it."""
    pytest.importorskip("transformers", reason="the model stack is not installed")
    from agents.models.random_init import build_random_clip

    model = build_random_clip(tmp_path / "clip")
    reports = {}
    for gate in (True, False):
        config = tmp_path / f"gate-{gate}.yaml"
        config.write_text(json.dumps({"scorer": {"backend": "embedding", "embedding": {"model": str(model)},
                                                 "gate": {"enabled": gate}}}))  # fmt: skip
        result = run_cli("eval", str(PERSON_TRUTH), "--config", str(config), "--json", timeout=300)
        assert result.returncode == 0, result.stderr
        reports[gate] = json.loads(result.stdout)
    on, off = reports[True]["model_frames"], reports[False]["model_frames"]
    assert off["to_model"] == off["frames"] == on["frames"] >= 139
    assert on["to_model"] < 0.8 * on["frames"], on  # the empty room and still moments are held
    assert on["events"] == 6 and on["events_reached"] == 6, on
    assert 0 < on["event_frames_to_model"] <= on["event_frames"]
    # With random weights the scores mean nothing, so recall is compared, not judged: the gate costs none of it.
    recall = {g: r["overall"]["event_recall"] for g, r in reports.items()}
    assert recall[True] >= recall[False], recall


def test_annotations_from_other_tools_load_and_name_what_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text(json.dumps({
        "video": "x.mp4", "seconds": 10, "fps": 25, "source": "cvat",
        "events": [{"query": "a person", "start": 1, "end": 2, "box": [1, 2, 3, 4], "track": 7}],
    }))  # fmt: skip
    annotation, ignored = load_annotation(path)
    assert annotation.events[0].query == "a person" and annotation.seconds == 10
    assert ignored == ["fps", "source", "events[].box", "events[].track"]


@pytest.mark.slow
async def test_eval_replays_without_opening_any_port(media: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A replay must not need (or take) the port a running service listens on."""
    from agents.eval import evaluate
    from streamer.transport.http import HttpServer

    async def refuse(self: HttpServer) -> HttpServer:
        raise AssertionError(f"eval started an HTTP server on {self.host}:{self.port}")

    monkeypatch.setattr(HttpServer, "__aenter__", refuse)
    result = await evaluate([PERSON_TRUTH], scorer="activity")
    assert result["overall"]["events"] == 6 and result["videos"][0]["ignored_fields"] == []


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b'{"video": "v.mp4", "seconds": 10, "events": [{"query": "q", "start": 0, "end": Infinity}]}', "Infinity"),
        (b'{"video": "v.mp4", "seconds": NaN}', "NaN"),
        (b'{"video": "v.mp4", "seconds": 1e999}', "must be finite"),
        (b'{"video": "v\\u0000.mp4", "seconds": 10}', "video: String should match pattern"),
        (b'{"video": "caf\xe9.mp4", "seconds": 10}', "not UTF-8"),
        (b'{"video": "v.mp4", "events": ' + b"[" * 5000 + b"]" * 5000 + b"}", "deeper than 32"),
    ],
)
def test_hostile_annotations_are_config_errors(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "a.events.json"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=re.escape(words)):
        load_annotation(path)


_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
_annotations = st.fixed_dictionaries(
    {},
    optional={
        "video": st.text(max_size=20) | _values,
        "seconds": st.floats() | st.integers() | _values,
        "events": st.lists(
            st.fixed_dictionaries({}, optional={"query": st.text(max_size=10) | _values, "start": st.floats() | _values,
                                                "end": st.floats() | _values, "box": _values}),
            max_size=4,
        ) | _values,
        "distractor_queries": st.lists(st.text(max_size=10)) | _values,
        "fps": _values,
    },
)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.binary(max_size=200)
    | _annotations.map(lambda a: json.dumps(a).encode("utf-8", "surrogatepass"))
    | _values.map(lambda v: json.dumps(v).encode("utf-8", "surrogatepass"))
)
def test_fuzz_any_annotation_file_gives_an_annotation_or_a_config_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "a.events.json"
    path.write_bytes(content)
    try:
        annotation, ignored = load_annotation(path)
    except ConfigError:
        return
    assert all(e.start <= e.end and math.isfinite(e.end) for e in annotation.events)
    assert math.isfinite(annotation.seconds) and isinstance(ignored, list)
