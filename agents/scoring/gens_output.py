"""Reading GenS's answer: a JSON object of frame indices or ranges to relevance 1-5, parsed defensively.

GenS answers like ``{"15": 5, "16": 4, "45-46": 3}``. In practice the JSON may be truncated at the
token limit, wrapped in chatter or a code fence, use ``"11 - 12"`` ranges or seconds with decimals,
name frames outside the window, or carry scores outside 1-5. Every well-formed entry that can be read
is kept; the rest is dropped, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .base import MAX_SCORE, MIN_SCORE, Grades

__all__ = ["Entry", "grades_for_offsets", "parse_entries", "scores_for_offsets"]

# A quoted key that is a number or a range of numbers, a colon, then a number (quoted or not).
_ENTRY = re.compile(
    r"""["'](?P<lo>\d+(?:\.\d+)?)\s*(?:(?:-|–|to)\s*(?P<hi>\d+(?:\.\d+)?))?\s*(?:s|sec|seconds)?["']"""
    r"""\s*:\s*["']?(?P<score>-?\d+(?:\.\d+)?)"""
)


@dataclass(frozen=True, slots=True)
class Entry:
    """One ``key: score`` pair: an inclusive span in the model's units (frame index or second)."""

    lo: float
    hi: float
    score: float


def parse_entries(text: str) -> list[Entry]:
    """Every readable ``"index": score`` or ``"a-b": score`` pair in ``text``, in order.

    Scores are clamped to 1-5; reversed ranges are put right. Text outside the first ``{`` is ignored
    when there is one (chatter before the JSON often contains numbers too).
    """
    start = text.find("{")
    body = text[start:] if start >= 0 else text
    end = body.find("}")
    if end >= 0:
        body = body[: end + 1]
    entries = []
    for m in _ENTRY.finditer(body):
        lo = float(m.group("lo"))
        hi = float(m.group("hi")) if m.group("hi") is not None else lo
        if hi < lo:
            lo, hi = hi, lo
        score = min(MAX_SCORE, max(MIN_SCORE, float(m.group("score"))))
        entries.append(Entry(lo, hi, score))
    return entries


def scores_for_offsets(entries: Sequence[Entry], offsets: Sequence[float]) -> NDArray[np.float32]:
    """Per-frame scores: frame ``i`` (at ``offsets[i]`` units into the window) gets the best entry covering it.

    Frames no entry covers score 1 (GenS lists only relevant frames). Entries wholly outside the window
    are dropped; ranges reaching past it are clipped.
    """
    return grades_for_offsets(entries, offsets).scores


def grades_for_offsets(entries: Sequence[Entry], offsets: Sequence[float]) -> Grades:
    """:func:`scores_for_offsets`, and which frames any entry named at all."""
    out = np.full(len(offsets), MIN_SCORE, dtype=np.float32)
    named = np.zeros(len(offsets), dtype=bool)
    if not entries or not len(offsets):
        return Grades(out, named)
    pos = np.asarray(offsets, dtype=np.float64)
    for e in entries:
        # Half a unit of slack either side: "12" covers a frame at 12.4 s, not one at 13.
        covered = (pos >= e.lo - 0.5) & (pos < e.hi + 0.5)
        np.maximum(out, np.where(covered, e.score, MIN_SCORE), out=out)
        named |= covered
    return Grades(out, named)
