from __future__ import annotations

import itertools

from streamer import RateSampler, SampleRate


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


def test_a_burst_samples_densely_at_once_then_returns_to_the_base_rate() -> None:
    rate = SampleRate(1.0, burst_fps=4.0)
    sampler = RateSampler(rate)
    times = [i / 20 for i in range(200)]  # 10 s at 20 fps
    kept = [t for t in times[:60] if sampler.keep(t)]  # 0-3 s at 1 fps
    assert kept == [0.0, 1.0, 2.0]
    rate.burst(60.0)  # motion seen: the next frame is due a quarter second after the last kept one
    burst = [t for t in times[60:120] if sampler.keep(t)]
    assert burst == [3.0, 3.25, 3.5, 3.75, 4.0, 4.25, 4.5, 4.75, 5.0, 5.25, 5.5, 5.75]
    rate._until = 0.0  # the burst is over
    assert [t for t in times[120:] if sampler.keep(t)] == [6.0, 7.0, 8.0, 9.0]


def test_a_burst_never_lowers_the_rate() -> None:
    assert SampleRate(5.0, burst_fps=2.0).burst_fps == 0.0
    rate = SampleRate(1.0)  # no burst rate: burst() changes nothing
    rate.burst(10.0)
    assert not rate.bursting and rate.current() == 1.0
