"""The GenS answer parser on well-formed, ranged, truncated and garbage outputs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.scoring.gens_output import Entry, parse_entries, scores_for_offsets

OFFSETS = [float(i) for i in range(20)]


def _scores(text: str, offsets: list[float] = OFFSETS) -> list[float]:
    return [float(v) for v in scores_for_offsets(parse_entries(text), offsets)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"15": 5, "16": 4, "45-46": 3}', {15: 5, 16: 4}),  # 45-46 lies outside a 20-frame window
        ('{"11-12": 5, "16-19": 4, "2": 2}', {11: 5, 12: 5, 16: 4, 17: 4, 18: 4, 19: 4, 2: 2}),
        ('{"3 - 5": 4}', {3: 4, 4: 4, 5: 4}),  # spaces around the dash
        ('{"5-3": 4}', {3: 4, 4: 4, 5: 4}),  # reversed range
        ('{"18-25": 5}', {18: 5, 19: 5}),  # range reaching past the window is clipped
        ('```json\n{"7": 5}\n```', {7: 5}),  # code fence
        ('The relevant frames are: {"7": 5, "8": 3}. Hope this helps!', {7: 5, 8: 3}),  # chatter
        ('{"7": 5, "8": 4, "9-1', {7: 5, 8: 4}),  # truncated at the token limit
        ('{"7": 5, "8": ', {7: 5}),  # truncated before a value
        ('{"4": 9, "5": 0, "6": -2}', {4: 5, 5: 1, 6: 1}),  # scores clamped to 1-5
        ('{"4": "5"}', {4: 5}),  # quoted score
        ('{"4.0": 4, "6.4": 3}', {4: 4, 6: 3}),  # seconds with decimals
        ('{"timestamp": 5, "abc": 3, "7": "high"}', {}),  # non-numeric entries dropped
        ('{"7": 3, "7": 5}', {7: 5}),  # repeated key keeps the best
        ("I cannot see any relevant frame.", {}),
        ("", {}),
        ("{}", {}),
        ("[1, 2, 3]", {}),
    ],
)
def test_corpus(text: str, expected: dict[int, float]) -> None:
    got = _scores(text)
    want = [float(expected.get(i, 1)) for i in range(len(OFFSETS))]
    assert got == want


def test_numbers_in_chatter_before_the_json_are_ignored() -> None:
    assert _scores('Looking at frames 3 to 9 ("3": 5 maybe) {"12": 4}') == [4.0 if i == 12 else 1.0 for i in range(20)]


def test_maps_seconds_onto_frames_at_other_rates() -> None:
    # A 2 fps window (offsets 0, 0.5, 1.0, ...): "3" covers [2.5, 3.5), the frames at 2.5 s and 3.0 s.
    offsets = [i * 0.5 for i in range(10)]
    assert scores_for_offsets([Entry(3, 3, 5)], offsets).tolist() == [1, 1, 1, 1, 1, 5, 5, 1, 1, 1]


@given(st.text(max_size=300))
def test_never_raises_and_stays_in_range(text: str) -> None:
    scores = scores_for_offsets(parse_entries(text), OFFSETS)
    assert scores.shape == (20,)
    assert np.all((scores >= 1) & (scores <= 5))


def test_only_the_first_object_counts() -> None:
    """A second JSON object (the model going on after its answer) is not read, nor anything after the first }."""
    assert parse_entries('{"2": 5} then {"7": 4}') == [Entry(2.0, 2.0, 5.0)]
    assert parse_entries('Sure. {"1-2": 4}\n{"9": 5}') == [Entry(1.0, 2.0, 4.0)]
    assert parse_entries('}"3": 5') == []  # even with no { before it


def test_an_answer_without_braces_is_read_whole() -> None:
    assert parse_entries('"3": 5, "4": 4') == [Entry(3.0, 3.0, 5.0), Entry(4.0, 4.0, 4.0)]


def test_grades_say_which_frames_any_entry_named() -> None:
    from agents.scoring.gens_output import grades_for_offsets

    grades = grades_for_offsets([Entry(0.0, 0.0, 4.0), Entry(2.0, 2.0, 1.0)], [0.0, 1.0, 2.0])
    assert grades.scores.dtype == np.float32 and grades.scores.tolist() == [4.0, 1.0, 1.0]
    assert grades.named.tolist() == [True, False, True]  # named, even with the lowest score
    nothing = grades_for_offsets([], [0.0, 1.0])
    assert nothing.scores.dtype == np.float32 and nothing.scores.tolist() == [1.0, 1.0]
    assert nothing.named.tolist() == [False, False]
