from __future__ import annotations

import itertools

from streamer import RateSampler


def _kept(sampler: RateSampler, times: list[float]) -> list[float]:
    return [t for t in times if sampler.keep(t)]


def test_one_fps_from_thirty_fps_by_timestamp() -> None:
    times = [i / 30 for i in range(300)]  # 10 s at 30 fps
    kept = _kept(RateSampler(1.0), times)
    assert len(kept) == 10
    assert [round(t) for t in kept] == list(range(10))


def test_variable_frame_rate_is_sampled_by_time_not_count() -> None:
    # 5 s at 60 fps followed by 5 s at 5 fps: a frame counter would keep 12x more in the first half.
    times = [i / 60 for i in range(300)] + [5 + i / 5 for i in range(25)]
    kept = _kept(RateSampler(1.0), times)
    assert len(kept) == 10
    assert sum(t < 5 for t in kept) == 5


def test_gap_restarts_the_grid_without_a_burst() -> None:
    sampler = RateSampler(2.0)
    kept = _kept(sampler, [0.0, 0.5, 1.0, 30.0, 30.1, 30.5, 31.0])
    assert kept == [0.0, 0.5, 1.0, 30.0, 30.5, 31.0]


def test_rounding_slack_in_time_bases() -> None:
    times = [i * 3003 / 90000 for i in range(200)]  # 29.97 fps in a 90 kHz time base
    kept = _kept(RateSampler(1.0), times)
    gaps = [b - a for a, b in itertools.pairwise(kept)]
    assert all(0.95 < g < 1.05 for g in gaps)


def test_zero_fps_keeps_everything() -> None:
    assert _kept(RateSampler(0), [0.0, 0.01, 0.02]) == [0.0, 0.01, 0.02]
