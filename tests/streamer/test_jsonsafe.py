"""JSON and topics from outside: the limits hold on hostile input, and everything within them parses as before."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamer import jsonsafe
from streamer.transport.topics import TopicError, check_topic, under


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"[" * 4000 + b"]" * 4000, "deeper than 32"),  # json.loads alone: RecursionError
        (b'{"a": ' * 4000 + b"1" + b"}" * 4000, "deeper than 32"),
        (b'{"threshold": NaN}', "NaN is not allowed"),
        (b'{"threshold": -Infinity}', "-Infinity is not allowed"),
        (b'{"x": 1e999}', "must be finite"),  # a literal that overflows to inf
        (b'{"reply_to": "fw/r\\ud800"}', "reply_to is not valid UTF-8"),
        (b'{"\\udfff": 1}', "not valid UTF-8"),
        (b'{"a": [1, {"b": "\\ud800x"}]}', "a[1].b is not valid UTF-8"),
        (b'{"a": "\xff"}', "not UTF-8 (byte 7)"),
    ],
)
def test_limits(raw: bytes, words: str) -> None:
    with pytest.raises(jsonsafe.LimitError, match=re.escape(words)):
        jsonsafe.loads(raw)


def test_brackets_inside_strings_do_not_count_as_depth() -> None:
    assert jsonsafe.loads(json.dumps({"text": "[" * 5000 + '\\"{'})) == {"text": "[" * 5000 + '\\"{'}


def test_not_json_is_a_plain_value_error() -> None:
    with pytest.raises(ValueError, match="not valid JSON") as info:
        jsonsafe.loads(b"{not json")
    assert not isinstance(info.value, jsonsafe.LimitError)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30,
)


@given(_json)
def test_everything_json_can_say_within_the_limits_parses_unchanged(value: Any) -> None:
    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False)):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # hypothesis' text() includes lone surrogates: those must be refused
            with pytest.raises(jsonsafe.LimitError):
                jsonsafe.loads(text)
            continue
        if _depth(value) > jsonsafe.MAX_DEPTH:
            continue
        assert jsonsafe.loads(text.encode()) == value


@given(st.binary(max_size=200) | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_any_bytes_give_a_value_or_a_value_error(raw: bytes) -> None:
    try:
        value = jsonsafe.loads(raw)
    except ValueError:
        return
    jsonsafe.check_value(value)  # what passes has no surrogate and no non-finite number in it
    json.dumps(value, allow_nan=False).encode("utf-8")


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


@pytest.mark.parametrize(
    ("topic", "words"),
    [
        ("fw/r\ud800", "not valid UTF-8"),
        ("fw/r\x00x", "NUL"),
        ("fw/#", "wildcard"),
        ("fw/+/x", "wildcard"),
        ("$SYS/broker", "belong to the broker"),
        ("", "non-empty"),
        ("x" * 70000, "65535"),
    ],
)
def test_topics_nobody_may_publish_to(topic: str, words: str) -> None:
    with pytest.raises(TopicError, match=words):
        check_topic(topic)


def test_under_is_level_by_level() -> None:
    assert under("fw/reply/x", "fw/reply") and under("fw/reply/x/y", "fw/reply/")
    assert not under("fw/reply", "fw/reply") and not under("fw/replyx/y", "fw/reply")
    assert not under("fw/reply/", "fw/reply")
