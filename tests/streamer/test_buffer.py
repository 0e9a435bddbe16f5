from __future__ import annotations

import asyncio

import numpy as np
import pytest

from streamer import Frame, FrameBuffer, OverflowPolicy
from tests.helpers import scaled, wait_until


def _frame(seq: int, pts: float | None = None, size: int = 10) -> Frame:
    t = float(seq) if pts is None else pts
    return Frame("cam", seq, t, 1000.0 + t, np.zeros((size, size, 3), np.uint8))


async def test_bounded_by_duration_and_counts_evictions() -> None:
    buf = FrameBuffer("cam", max_seconds=5, max_bytes=10**9, policy=OverflowPolicy.DROP_OLDEST)
    for i in range(20):
        await buf.put(_frame(i))
    assert buf.seconds <= 5
    assert len(buf) == 6
    assert buf.stats.evicted == 14
    assert buf.stats.dropped_unscored == 14  # nothing consumed them


async def test_bounded_by_bytes() -> None:
    one = _frame(0).nbytes
    buf = FrameBuffer("cam", max_seconds=1e9, max_bytes=one * 3, policy=OverflowPolicy.DROP_OLDEST)
    for i in range(10):
        await buf.put(_frame(i))
    assert len(buf) == 3
    assert buf.nbytes <= one * 3


async def test_random_access_by_time() -> None:
    buf = FrameBuffer("cam", max_seconds=100, max_bytes=10**9, policy=OverflowPolicy.DROP_OLDEST)
    for i in range(30):
        await buf.put(_frame(i, pts=i * 0.5))
    assert [f.pts for f in buf.window(2.0, 3.5)] == [2.0, 2.5, 3.0, 3.5]
    assert [f.seq for f in buf.window_wall(1001.0, 1002.0)] == [2, 3, 4]
    assert [f.seq for f in buf.latest(3)] == [27, 28, 29]
    assert [f.seq for f in buf.after(25)] == [26, 27, 28, 29]
    assert [f.seq for f in buf.after(10, limit=2)] == [11, 12]
    assert [f.seq for f in buf.before(5, 2)] == [3, 4]


async def test_block_policy_waits_for_the_consumer_and_loses_nothing() -> None:
    buf = FrameBuffer("cam", max_seconds=3, max_bytes=10**9, policy=OverflowPolicy.BLOCK)
    for i in range(4):
        await buf.put(_frame(i))
    producer = asyncio.create_task(buf.put(_frame(4)))
    await wait_until(lambda: buf.stats.blocked == 1, what="the producer to wait for the consumer")
    assert not producer.done(), "a full buffer of unconsumed frames must block a file producer"
    assert buf.unconsumed() == 4
    await buf.mark_consumed(1)
    await asyncio.wait_for(producer, scaled(1.0))
    assert buf.stats.dropped_unscored == 0
    assert [f.seq for f in buf.after(-1)] == [1, 2, 3, 4]


async def test_close_unblocks_a_waiting_producer() -> None:
    buf = FrameBuffer("cam", max_seconds=1, max_bytes=10**9, policy=OverflowPolicy.BLOCK)
    await buf.put(_frame(0))
    await buf.put(_frame(1))
    producer = asyncio.create_task(buf.put(_frame(2)))
    await wait_until(lambda: buf.stats.blocked == 1, what="the producer to wait for the consumer")
    await buf.close()
    await asyncio.wait_for(producer, scaled(1.0))


def test_rejects_nonsense_bounds() -> None:
    with pytest.raises(ValueError, match="positive"):
        FrameBuffer("cam", max_seconds=0, max_bytes=1, policy=OverflowPolicy.BLOCK)
