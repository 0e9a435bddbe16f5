"""A camera as an asyncio resource: a decoding thread, reconnects, status and an overflow policy."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from types import TracebackType

from .errors import SourceError
from .frames import Frame
from .policies import Backoff, OverflowPolicy
from .redact import redact_url
from .source import FrameDecoder, SourceOptions, is_file_source

__all__ = ["CameraReader", "CameraStatus", "ReaderStats"]

log = logging.getLogger(__name__)


class CameraStatus(enum.StrEnum):
    """What the service knows about a camera right now."""

    CONNECTING = "connecting"
    LIVE = "live"
    STALLED = "stalled"
    OFFLINE = "offline"
    ENDED = "ended"


@dataclass(slots=True)
class ReaderStats:
    """Counters one reader exposes."""

    decoded: int = 0
    sampled: int = 0
    dropped: int = 0
    reconnects: int = 0
    bad_packets: int = 0


class _End:
    """Queue sentinel: the stream is over, with the error that ended it if any."""

    __slots__ = ("error",)

    def __init__(self, error: SourceError | None) -> None:
        self.error = error


StatusCallback = Callable[[str, CameraStatus], None]


class CameraReader:
    """Read one camera in a worker thread and hand its sampled frames to asyncio.

    With ``retry=False`` the first failure ends the iteration with :class:`SourceError` (what
    ``watch`` wants); with ``retry=True`` the reader reconnects forever with backoff. A file that
    ends (and does not loop) ends the iteration cleanly. Use as an async context manager and iterate
    :meth:`frames`.
    """

    def __init__(
        self,
        camera: str,
        url: str,
        options: SourceOptions,
        *,
        retry: bool,
        policy: OverflowPolicy | None = None,
        queue_size: int = 64,
        stall_s: float = 15.0,
        backoff: Backoff | None = None,
        on_status: StatusCallback | None = None,
    ) -> None:
        self.camera = camera
        self.url = url
        self.options = options
        self.retry = retry
        self.is_file = is_file_source(url)
        self.policy = policy or (OverflowPolicy.BLOCK if self.is_file else OverflowPolicy.DROP_OLDEST)
        self.stall_s = stall_s
        self.stats = ReaderStats()
        self.status = CameraStatus.CONNECTING
        self.last_error: str | None = None
        self._decoder: FrameDecoder | None = None
        self._backoff = backoff or Backoff()
        self._on_status = on_status
        self._queue: asyncio.Queue[Frame | _End] = asyncio.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watchdog: asyncio.Task[None] | None = None

    @property
    def source(self) -> str:
        """The source URL with credentials masked: the only form that may be logged or published."""
        return redact_url(self.url)

    async def __aenter__(self) -> CameraReader:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name=f"reader-{self.camera}", daemon=True)
        self._thread.start()
        self._watchdog = asyncio.create_task(self._watch_stalls(), name=f"watchdog-{self.camera}")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self, timeout_s: float = 5.0) -> None:
        """Stop the thread and wait for it (bounded by the read timeout the decoder honours)."""
        self._stop.set()
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
        # Unblock a producer waiting on a full queue: the frames still queued will not be read now.
        self._drop_queued_frames()
        thread = self._thread
        if thread is not None and thread.is_alive():
            await asyncio.to_thread(thread.join, timeout_s)
            if thread.is_alive():
                log.warning("reader for %s did not stop within %.0f s; leaving it to exit", self.camera, timeout_s)
        # Whatever the thread managed to post, a consumer still iterating must see the end.
        self._drop_queued_frames()
        self._queue.put_nowait(_End(None))

    def _drop_queued_frames(self) -> None:
        """Empty the queue of frames, keeping an end marker (with its error) if one is there."""
        ends = []
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if isinstance(item, _End):
                ends.append(item)
        for end in ends[:1]:
            self._queue.put_nowait(end)

    async def frames(self) -> AsyncIterator[Frame]:
        """Sampled frames in order; ends at end of file, raises :class:`SourceError` when not retrying."""
        while True:
            item = await self._queue.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item

    # -- worker thread -------------------------------------------------------------------------

    def _set_status(self, status: CameraStatus) -> None:
        if status is self.status:
            return
        self.status = status
        log.info("camera %s is %s", self.camera, status.value)
        if self._on_status is not None and self._loop is not None:
            cb = self._on_status
            with contextlib.suppress(RuntimeError):  # loop already closed at shutdown
                self._loop.call_soon_threadsafe(cb, self.camera, status)

    def _run(self) -> None:
        end: _End = _End(None)
        seq = 0
        offset = 0.0
        try:
            while not self._stop.is_set():
                self._set_status(CameraStatus.CONNECTING)
                decoder = self._decoder = FrameDecoder(self.camera, self.url, self.options)
                decoded_before = self.stats.decoded
                last_pts = offset
                try:
                    for frame in decoder.frames(self._stop, seq_start=seq):
                        if frame.seq == seq:  # first frame of this session
                            self._backoff.reset()
                            self.last_error = None
                        frame = _shift(frame, offset)
                        last_pts = frame.pts
                        seq = frame.seq + 1
                        self.stats.sampled += 1
                        self.stats.decoded = decoded_before + decoder.decoded  # live, for status and metrics
                        self._set_status(CameraStatus.LIVE)
                        if not self._emit(frame):
                            return
                    if self._stop.is_set():
                        return
                    if self.is_file and not self.options.loop:
                        self._set_status(CameraStatus.ENDED)
                        return
                    if not self.is_file:
                        raise SourceError(f"stream {self.source} ended")
                except SourceError as exc:
                    self.last_error = str(exc)
                    if not self.retry:
                        self._set_status(CameraStatus.OFFLINE)
                        end = _End(exc)
                        return
                    self.stats.reconnects += 1
                    self._set_status(CameraStatus.OFFLINE)
                    delay = self._backoff.next_delay()
                    log.warning("camera %s: %s; retrying in %.1f s", self.camera, exc, delay)
                    if self._stop.wait(delay):
                        return
                finally:
                    self.stats.decoded = decoded_before + decoder.decoded
                    self.stats.bad_packets += decoder.bad_packets
                # Keep times monotonic across reconnects and file loops.
                period = 1.0 / self.options.sample_fps if self.options.sample_fps > 0 else 0.0
                offset = last_pts + max(period, 1e-3)
        except Exception as exc:  # a bug, not a stream problem: surface it instead of dying silently
            log.exception("reader for %s crashed", self.camera)
            end = _End(SourceError(f"reader for {self.source} crashed: {exc!r}"))
        finally:
            self._post_end(end)

    def _emit(self, item: Frame | _End) -> bool:
        """Hand an item to the event loop under the overflow policy; False when stopping."""
        loop = self._loop
        assert loop is not None
        if self.policy is OverflowPolicy.DROP_OLDEST or self._stop.is_set():
            try:
                loop.call_soon_threadsafe(self._put_drop_oldest, item)
            except RuntimeError:
                return False
            return True
        # One put, waited for in slices so the stop flag is seen. Never cancelled and resubmitted: a put that
        # lands just as a slice times out would then enqueue the same frame twice.
        fut = asyncio.run_coroutine_threadsafe(self._queue.put(item), loop)
        while True:
            try:
                fut.result(timeout=0.5)
                return True
            except TimeoutError:
                if self._stop.is_set():
                    fut.cancel()
                    return False

    def _put_drop_oldest(self, item: Frame | _End) -> None:
        if self._queue.full():
            dropped = self._queue.get_nowait()
            if isinstance(dropped, _End):  # the end marker is always the last item: keep it
                self._queue.put_nowait(dropped)
                return
            self.stats.dropped += 1
        self._queue.put_nowait(item)

    def _post_end(self, end: _End) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        if not self._emit(end):  # stopping with a full queue: nobody reads it any more
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._put_drop_oldest, end)

    def stall_limit(self) -> float:
        """Seconds without a decoded frame before the camera counts as stalled.

        At least ``stall_s``, and at least four of the stream's own frame intervals, so a camera
        that sends one frame every ten seconds is not declared stalled between frames.
        """
        decoder = self._decoder
        interval = decoder.frame_interval_s if decoder is not None and decoder.frame_interval_s else 0.0
        return max(self.stall_s, 4.0 * interval)

    async def _watch_stalls(self) -> None:
        """Stalled after :meth:`stall_limit` without a frame; after twice that, drop the session and reconnect.

        The second step catches a stream whose socket stays open and keeps sending packets that decode
        to nothing (FFmpeg's read timeout only catches silence).
        """
        while True:
            await asyncio.sleep(min(1.0, self.stall_s / 4))
            decoder = self._decoder
            last = decoder.last_frame_mono if decoder is not None else None
            if last is None or self.status in (CameraStatus.OFFLINE, CameraStatus.ENDED):
                continue
            idle = time.monotonic() - last
            limit = self.stall_limit()
            if idle > limit and self.status is not CameraStatus.CONNECTING:
                self._set_status(CameraStatus.STALLED)
            if idle > 2 * limit and decoder is not None and not decoder.abort.is_set():
                log.warning("camera %s: no frame for %.0f s; reconnecting", self.camera, idle)
                decoder.abort.set()


def _shift(frame: Frame, offset: float) -> Frame:
    if offset == 0.0:
        return frame
    return Frame(
        camera=frame.camera,
        seq=frame.seq,
        pts=frame.pts + offset,
        wall=frame.wall,
        image=frame.image,
        snapshot=frame.snapshot,
        keyframe=frame.keyframe,
    )
