"""Time and camera phrases in questions: "in the last 10 minutes", "this morning", "since 14:00",
"yesterday on the porch camera" become a time range and a camera; the rest is the semantic part."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta

__all__ = ["QuestionFilter", "parse_question"]

_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hr": 3600, "hour": 3600,
          "d": 86400, "day": 86400}  # fmt: skip
_PARTS = {"morning": (6, 12), "afternoon": (12, 18), "evening": (18, 22), "night": (18, 30)}
_NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "five": 5, "ten": 10, "fifteen": 15, "thirty": 30}
_MAX_SPAN_S = 100 * 365 * 86400  # longer spans than a century mean "all of it"
_CLOCK = r"(?P<h{n}>\d{{1,2}})(?::(?P<m{n}>\d{{2}}))?\s*(?P<ap{n}>am|pm|a\.m\.|p\.m\.)?"


@dataclass(frozen=True, slots=True)
class QuestionFilter:
    """What a question says about when and where, and what is left of it."""

    since: datetime | None
    until: datetime | None
    camera: str | None
    text: str


def _clock(h: str, m: str | None, ap: str | None) -> time | None:
    hour, minute = int(h), int(m or 0)
    if ap:
        pm = ap.startswith("p")
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if pm else 0)
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def _at(day: datetime, t: time) -> datetime:
    return day.replace(hour=t.hour, minute=t.minute, second=0, microsecond=0)


def parse_question(question: str, now: datetime, cameras: list[str] | None = None) -> QuestionFilter:
    """Read time and camera phrases out of ``question`` (``now`` must be timezone-aware)."""
    text = f" {question.strip()} "
    since: datetime | None = None
    until: datetime | None = None
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)

    def cut(pattern: str) -> re.Match[str] | None:
        nonlocal text
        match = re.search(pattern, text, re.I)
        if match:
            text = text[: match.start()] + " " + text[match.end() :]
        return match

    if m := cut(r"\b(?:in\s+)?(?:the\s+)?(?:last|past)\s+(?P<n>\d+|a|an|one|two|three|five|ten|fifteen|thirty)?\s*"
                r"(?P<u>seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d)\b"):  # fmt: skip
        n = m.group("n")
        count = 1 if n is None else int(n) if n.isdigit() else _NUMBER_WORDS[n.lower()]
        unit = m.group("u").lower().rstrip("s") or "s"
        span_s = count * _UNITS[unit]
        # "the last 99999999999 days" is all of it (and would overflow a datetime).
        since, until = (now - timedelta(seconds=span_s) if span_s <= _MAX_SPAN_S else None), now
    elif m := cut(
        r"\b(?:between|from)\s+" + _CLOCK.format(n=1) + r"\s+(?:and|to|until|till)\s+" + _CLOCK.format(n=2) + r"\b"
    ):
        a = _clock(m.group("h1"), m.group("m1"), m.group("ap1") or m.group("ap2"))
        b = _clock(m.group("h2"), m.group("m2"), m.group("ap2"))
        if a and b:
            since, until = _at(now, a), _at(now, b)
            if until < since:  # "between 22:00 and 02:00": the range spans midnight
                since -= timedelta(days=1)
    elif m := cut(r"\bsince\s+" + _CLOCK.format(n=1) + r"\b"):
        t = _clock(m.group("h1"), m.group("m1"), m.group("ap1"))
        if t:
            since, until = _at(now, t), now
            if since > now:  # "since 23:00" just after midnight means yesterday
                since -= timedelta(days=1)
    elif m := cut(r"\bat\s+" + _CLOCK.format(n=1) + r"(?=\s|[?.!,])"):
        t = _clock(m.group("h1"), m.group("m1"), m.group("ap1"))
        if t and (m.group("m1") or m.group("ap1")):
            centre = _at(now, t)
            if centre > now:
                centre -= timedelta(days=1)
            since, until = centre - timedelta(minutes=5), centre + timedelta(minutes=5)
    if cut(r"\blast\s+night\b"):
        since = midnight - timedelta(hours=6)
        until = midnight + timedelta(hours=6)
    elif m := cut(r"\b(?:this|today'?s?)\s+(?P<part>morning|afternoon|evening)\b|\btonight\b"):
        part = m.group("part") or "night"
        lo, hi = _PARTS[part]
        since, until = midnight + timedelta(hours=lo), midnight + timedelta(hours=hi)
    elif m := cut(r"\byesterday(?:\s+(?P<part>morning|afternoon|evening|night))?\b"):
        if m.group("part"):
            lo, hi = _PARTS[m.group("part")]
            span = (midnight + timedelta(days=-1, hours=lo), midnight + timedelta(days=-1, hours=hi))
        else:
            span = (midnight - timedelta(days=1), midnight)
        if since is not None and until is not None and since.date() == now.date():  # "yesterday at 10:05"
            since, until = since - timedelta(days=1), until - timedelta(days=1)
        else:
            since, until = span
    elif cut(r"\btoday\b") and since is None:
        since, until = midnight, now
    camera = None
    for cam in sorted(cameras or [], key=len, reverse=True):
        words = r"[\s_-]".join(re.escape(part) for part in re.split(r"[-_]", cam))
        if cut(rf"\b(?:on|from|at|in)?\s*(?:the\s+)?{words}(?:\s+camera|\s+cam)?\b"):
            camera = cam
            break
    rest = re.sub(r"\s+", " ", text).strip(" ,")
    return QuestionFilter(since, until, camera, rest)
