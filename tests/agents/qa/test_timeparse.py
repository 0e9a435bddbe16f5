"""Time and camera phrases, as a table, in a fixed time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.qa.timeparse import QuestionFilter, parse_question

TZ = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 14, 15, 30, tzinfo=TZ)  # a Saturday afternoon
CAMERAS = ["porch", "front-door", "garage"]


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=TZ)


@pytest.mark.parametrize(
    ("question", "since", "until", "camera", "rest"),
    [
        ("who came in the last 10 minutes?", at(14, 15, 20), NOW, None, "who came ?"),
        ("anything in the past hour", at(14, 14, 30), NOW, None, "anything"),
        ("last 2 hours on the porch camera", at(14, 13, 30), NOW, "porch", ""),
        ("what happened this morning?", at(14, 6), at(14, 12), None, "what happened ?"),
        ("cars this afternoon", at(14, 12), at(14, 18), None, "cars"),
        ("since 14:00, did the courier come?", at(14, 14), NOW, None, "did the courier come?"),
        ("since 9am", at(14, 9), NOW, None, ""),
        ("since 2:15 pm at the garage", at(14, 14, 15), NOW, "garage", ""),
        ("what was on the table at 10:05?", at(14, 10), at(14, 10, 10), None, "what was on the table ?"),
        ("yesterday on the porch camera", at(13, 0), at(14, 0), "porch", ""),
        ("yesterday evening", at(13, 18), at(13, 22), None, ""),
        ("who was at the front door yesterday at 10:05", at(13, 10), at(13, 10, 10), "front-door", "who was"),
        ("last night", at(13, 18), at(14, 6), None, ""),
        ("between 9 and 11 am", at(14, 9), at(14, 11), None, ""),
        ("from 13:00 to 14:30 in the garage", at(14, 13), at(14, 14, 30), "garage", ""),
        ("today", at(14, 0), NOW, None, ""),
        ("a red car", None, None, None, "a red car"),
        ("at 25:99 something", None, None, None, "something"),
    ],
)
def test_phrases(question: str, since: datetime | None, until: datetime | None, camera: str | None, rest: str) -> None:
    got = parse_question(question, NOW, CAMERAS)
    assert (got.since, got.until, got.camera) == (since, until, camera), question
    assert got.text == rest


def test_since_a_later_clock_time_means_yesterday() -> None:
    early = datetime(2026, 3, 14, 0, 30, tzinfo=TZ)
    got = parse_question("since 23:00", early, [])
    assert got.since == at(13, 23) and got.until == early


def test_absurd_spans_mean_all_of_it_and_ranges_over_midnight_go_back_a_day() -> None:
    # "the last 99999999999 days" used to overflow a datetime (OverflowError: a 500 on /api/ask).
    assert parse_question("anyone in the last 99999999999 days?", NOW) == QuestionFilter(None, NOW, None, "anyone ?")
    night = parse_question("between 22:00 and 02:00", NOW)
    assert (night.since, night.until) == (at(13, 22), at(14, 2))


_phrases = st.sampled_from(
    ["in the last", "past", "since", "between", "and", "at", "am", "pm", "this morning", "tonight", "yesterday",
     "last night", "today", "on the", "porch", "front-door", "camera", "seconds", "days", "hours", "a", "one", "?"]
) | st.integers(min_value=0, max_value=10**30).map(str) | st.from_regex(r"\d{1,3}:\d{1,3}", fullmatch=True)  # fmt: skip


_numbers = st.integers(min_value=0, max_value=10**30).map(str) | st.sampled_from(["a", "an", "ten", ""])
_time_phrases = st.one_of(
    st.tuples(st.sampled_from(["in the last", "past", "the last"]), _numbers,
              st.sampled_from(["s", "seconds", "min", "hours", "h", "days", "d"])).map(" ".join),
    st.tuples(st.sampled_from(["since", "at", "between"]), st.from_regex(r"\d{1,3}(:\d{2})?( ?[ap]m)?", fullmatch=True),
              st.sampled_from(["", "and 3pm", "to 02:00", "until 1"])).map(" ".join),
    st.sampled_from(["yesterday", "yesterday night", "last night", "this evening", "tonight", "today"]),
)  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(
    question=st.text(max_size=200)
    | st.lists(_phrases, max_size=12).map(" ".join)
    | st.lists(_time_phrases, min_size=1, max_size=3).map(" ".join),
    now=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(TZ)),
)
def test_fuzz_any_question_gives_a_filter(question: str, now: datetime) -> None:
    found = parse_question(question, now, CAMERAS)
    assert isinstance(found.text, str) and found.camera in (None, *CAMERAS)
    for t in (found.since, found.until):
        assert t is None or t.tzinfo is not None
    if found.since is not None and found.until is not None:
        assert found.since <= found.until
