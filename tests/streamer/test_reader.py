"""The reader's hand-off from its decoding thread to asyncio."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from streamer import CameraReader, Frame, OverflowPolicy, SourceOptions


class SliceEndsAsThePutLands:
    """Wraps the future of a queue put so that the first timed wait ends (TimeoutError) just after the put has
    completed: the race between a waiting slice and the event loop, made to happen every time."""

    def __init__(self, future: concurrent.futures.Future[Any], first: bool) -> None:
        self.future = future
        self.first = first

    def result(self, timeout: float | None = None) -> Any:
        if self.first:
            self.first = False
            self.future.result()  # the put is done...
            raise TimeoutError  # ...but the slice reports a timeout
        return self.future.result(timeout)

    def cancel(self) -> bool:
        return self.future.cancel()


async def test_block_handoff_never_enqueues_a_frame_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reader = CameraReader("cam", str(tmp_path / "clip.mp4"), SourceOptions(), retry=False)
    assert reader.policy is OverflowPolicy.BLOCK  # a file: nothing may be lost, nothing doubled
    reader._loop = asyncio.get_running_loop()
    real = asyncio.run_coroutine_threadsafe
    puts: list[SliceEndsAsThePutLands] = []

    def late(coro: Coroutine[Any, Any, Any], loop: asyncio.AbstractEventLoop) -> SliceEndsAsThePutLands:
        puts.append(SliceEndsAsThePutLands(real(coro, loop), first=not puts))  # only the first put meets the race
        return puts[-1]

    monkeypatch.setattr(asyncio, "run_coroutine_threadsafe", late)
    frame = Frame("cam", 0, 0.0, 0.0, np.zeros((4, 4, 3), np.uint8))
    assert await asyncio.to_thread(reader._emit, frame)
    assert reader._queue.qsize() == 1, f"the frame was queued {reader._queue.qsize()} times"
