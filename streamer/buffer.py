"""The rolling frame buffer: the last minutes of one camera, bounded by duration and by bytes."""

from __future__ import annotations

import asyncio
import bisect
from collections import deque
from dataclasses import dataclass

from .frames import Frame
from .policies import OverflowPolicy

__all__ = ["BufferStats", "FrameBuffer"]


@dataclass(slots=True)
class BufferStats:
    """Counters of one buffer."""

    appended: int = 0
    evicted: int = 0
    # Frames evicted before the scheduler consumed them (only under DROP_OLDEST).
    dropped_unscored: int = 0
    # Times a put waited for the scheduler to consume (only under BLOCK): backpressure on a file source.
    blocked: int = 0


class FrameBuffer:
    """Sampled frames of one camera in time order, with random access by time.

    The buffer keeps at most ``max_seconds`` of stream time and ``max_bytes`` of frames. Under
    ``OverflowPolicy.BLOCK`` (files) :meth:`put` waits rather than evict a frame the scheduler has
    not consumed yet, so nothing is lost; under ``DROP_OLDEST`` (live feeds) it evicts and counts.
    """

    def __init__(self, camera: str, *, max_seconds: float, max_bytes: int, policy: OverflowPolicy) -> None:
        if max_seconds <= 0 or max_bytes <= 0:
            raise ValueError("buffer bounds must be positive")
        self.camera = camera
        self.max_seconds = max_seconds
        self.max_bytes = max_bytes
        self.policy = policy
        self.stats = BufferStats()
        self._frames: deque[Frame] = deque()
        self._bytes = 0
        self._consumed_seq = -1
        self._changed = asyncio.Condition()
        self.closed = False

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def nbytes(self) -> int:
        """Bytes held now."""
        return self._bytes

    @property
    def seconds(self) -> float:
        """Stream time spanned now."""
        return self._frames[-1].pts - self._frames[0].pts if self._frames else 0.0

    @property
    def consumed_seq(self) -> int:
        """Highest frame sequence number the scheduler has consumed."""
        return self._consumed_seq

    def _over(self, incoming: Frame) -> bool:
        if not self._frames:
            return False
        return self._bytes + incoming.nbytes > self.max_bytes or incoming.pts - self._frames[0].pts > self.max_seconds

    async def put(self, frame: Frame) -> None:
        """Append a frame, evicting the oldest as the bounds and the policy allow."""
        async with self._changed:
            while self._over(frame):
                oldest = self._frames[0]
                if oldest.seq > self._consumed_seq:
                    if self.policy is OverflowPolicy.BLOCK and not self.closed:
                        self.stats.blocked += 1
                        await self._changed.wait()
                        continue
                    self.stats.dropped_unscored += 1
                self._frames.popleft()
                self._bytes -= oldest.nbytes
                self.stats.evicted += 1
            self._frames.append(frame)
            self._bytes += frame.nbytes
            self.stats.appended += 1
            self._changed.notify_all()

    async def close(self) -> None:
        """No more frames will come; wake everyone waiting."""
        async with self._changed:
            self.closed = True
            self._changed.notify_all()

    async def mark_consumed(self, seq: int) -> None:
        """The scheduler is done with every frame up to ``seq``: they may now be evicted."""
        async with self._changed:
            self._consumed_seq = max(self._consumed_seq, seq)
            self._changed.notify_all()

    async def wait_unconsumed(self) -> None:
        """Wait until a frame the scheduler has not consumed is buffered, or the buffer is closed."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.closed or self.unconsumed() > 0)

    def unconsumed(self) -> int:
        """How many buffered frames the scheduler has not consumed."""
        if not self._frames or self._frames[-1].seq <= self._consumed_seq:
            return 0
        idx = bisect.bisect_right(self._frames, self._consumed_seq, key=lambda f: f.seq)
        return len(self._frames) - idx

    def after(self, seq: int, limit: int | None = None) -> list[Frame]:
        """Frames with a sequence number above ``seq``, oldest first, at most ``limit``."""
        idx = bisect.bisect_right(self._frames, seq, key=lambda f: f.seq)
        end = len(self._frames) if limit is None else min(len(self._frames), idx + limit)
        return [self._frames[i] for i in range(idx, end)]

    def before(self, seq: int, count: int) -> list[Frame]:
        """Up to ``count`` frames just before sequence number ``seq`` (the overlap context)."""
        idx = bisect.bisect_left(self._frames, seq, key=lambda f: f.seq)
        return [self._frames[i] for i in range(max(0, idx - count), idx)]

    def window(self, start: float, end: float) -> list[Frame]:
        """Frames with ``start <= pts <= end`` (stream seconds)."""
        lo = bisect.bisect_left(self._frames, start, key=lambda f: f.pts)
        hi = bisect.bisect_right(self._frames, end, key=lambda f: f.pts)
        return [self._frames[i] for i in range(lo, hi)]

    def window_wall(self, start: float, end: float) -> list[Frame]:
        """Frames whose wall-clock time lies in ``[start, end]`` (Unix seconds)."""
        lo = bisect.bisect_left(self._frames, start, key=lambda f: f.wall)
        hi = bisect.bisect_right(self._frames, end, key=lambda f: f.wall)
        return [self._frames[i] for i in range(lo, hi)]

    def latest(self, count: int) -> list[Frame]:
        """The newest ``count`` frames, oldest first."""
        n = len(self._frames)
        return [self._frames[i] for i in range(max(0, n - count), n)]
