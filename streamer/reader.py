"""A camera as an asyncio resource: a decoding thread, reconnects, status and an overflow policy."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from types import TracebackType

from .errors import SourceError, SourceTimeoutError
from .frames import Frame
from .packets import PacketRing
from .policies import OverflowPolicy
from .recovery import Outcome, ReconnectPlan
from .redact import redact_text, redact_url
from .source import FrameDecoder, SourceOptions, is_file_source, is_rtsp

__all__ = ["RECOVERED_S", "CameraReader", "CameraStatus", "Outage", "ReaderStats"]

log = logging.getLogger(__name__)


class CameraStatus(enum.StrEnum):
    """What the service knows about a camera right now.

    ``connecting`` until the first session delivers; ``live`` while frames flow; ``stalled`` when a live session
    stops delivering (it is dropped and reopened at once); ``offline`` while reconnecting after a failure (the
    status stays ``offline`` across attempts); ``ended`` at the end of a file.
    """

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
    outages: int = 0


@dataclass(frozen=True, slots=True)
class Outage:
    """A time a camera was away: from when it stopped delivering to when it came back (None while away).

    Times are wall-clock seconds. A camera is back once it has delivered frames for ``RECOVERED_S`` in a row, so a
    source that flaps (up a second, down a second) is one outage, not a hundred."""

    camera: str
    start: float
    end: float | None
    cause: str

    @property
    def duration_s(self) -> float | None:
        return None if self.end is None else max(0.0, self.end - self.start)

    def to_dict(self) -> dict[str, object]:
        return {
            "camera": self.camera,
            "start": round(self.start, 3),
            "end": None if self.end is None else round(self.end, 3),
            "duration_s": None if self.duration_s is None else round(self.duration_s, 3),
            "cause": self.cause,
        }


RECOVERED_S = 3.0  # frames for this long in a row end an outage


class _End:
    """Queue sentinel: the stream is over, with the error that ended it if any."""

    __slots__ = ("error",)

    def __init__(self, error: SourceError | None) -> None:
        self.error = error


StatusCallback = Callable[[str, CameraStatus], None]
OutageCallback = Callable[[Outage], None]


class _StatusLog:
    """Log status changes, one line each, until a camera flaps: then a summary at most every ``every_s``."""

    def __init__(self, camera: str, *, burst: int = 8, window_s: float = 30.0, every_s: float = 30.0) -> None:
        self.camera = camera
        self.burst, self.window_s, self.every_s = burst, window_s, every_s
        self._changes: deque[float] = deque()
        self._suppressed = 0
        self._last_summary = -1e9

    def change(self, status: CameraStatus, now: float) -> None:
        self._changes.append(now)
        while self._changes and now - self._changes[0] > self.window_s:
            self._changes.popleft()
        if len(self._changes) <= self.burst:
            log.info("camera %s is %s", self.camera, status.value)
            return
        self._suppressed += 1
        if now - self._last_summary >= self.every_s:
            log.warning(
                "camera %s is flapping: %d status changes in the last %.0f s (%d not logged); now %s",
                self.camera, len(self._changes), self.window_s, self._suppressed, status.value,
            )  # fmt: skip
            self._last_summary = now
            self._suppressed = 0


class CameraReader:
    """Read one camera in a worker thread and hand its sampled frames to asyncio.

    With ``retry=False`` the first failure ends the iteration with :class:`SourceError` (what
    ``watch`` wants); with ``retry=True`` the reader reconnects forever, as :class:`ReconnectPlan` decides: at
    once after a loss, within a second while the camera was live recently, then backing off. A file that ends
    (and does not loop) ends the iteration cleanly. Use as an async context manager and iterate :meth:`frames`.

    A live camera that delivers nothing for its stall limit (``options.stall_s``, or four frame intervals if
    longer) is ``stalled`` and its session dropped at once; each session's reads wait no longer than that limit.
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
        plan: ReconnectPlan | None = None,
        on_status: StatusCallback | None = None,
        on_outage: OutageCallback | None = None,
        ring: PacketRing | None = None,
    ) -> None:
        self.camera = camera
        self.ring = ring  # the camera's kept packets, for clips
        self.url = url
        self.options = options
        self.retry = retry
        self.is_file = is_file_source(url)
        self.policy = policy or (OverflowPolicy.BLOCK if self.is_file else OverflowPolicy.DROP_OLDEST)
        self.stats = ReaderStats()
        self.status = CameraStatus.CONNECTING
        self.last_error: str | None = None
        self.transport: str | None = None  # the RTSP transport of the current or last session
        self.outage: Outage | None = None  # the open outage, or the last one
        self.plan = plan or ReconnectPlan(
            rtsp=is_rtsp(url), transport=options.rtsp_transport, open_timeout_s=options.open_timeout_s,
            stall_s=options.stall_s, read_cap_s=options.read_timeout_s,
        )  # fmt: skip
        self._decoder: FrameDecoder | None = None
        self._on_status = on_status
        self._on_outage = on_outage
        self._status_log = _StatusLog(camera)
        self._status_since = time.monotonic()
        self._offline_s = 0.0  # seconds spent neither live nor ended, before _status_since
        self._live_since: float | None = None  # monotonic start of the current run of frames
        self._state_lock = threading.Lock()  # status and outage change from the thread and the watchdog
        self._queue: asyncio.Queue[Frame | _End] = asyncio.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watchdog: asyncio.Task[None] | None = None

    @property
    def source(self) -> str:
        """The source URL with credentials masked: the only form that may be logged or published."""
        return redact_url(self.url)

    @property
    def offline_s(self) -> float:
        """Seconds this camera has spent neither live nor ended (connecting, stalled, offline)."""
        current = 0.0
        if self.status not in (CameraStatus.LIVE, CameraStatus.ENDED):
            current = time.monotonic() - self._status_since
        return self._offline_s + current

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

    # -- status and outages (either thread; callbacks run on the loop) ------------------------------

    def _set_status(self, status: CameraStatus) -> None:
        with self._state_lock:
            if status is self.status:
                return
            now = time.monotonic()
            if self.status not in (CameraStatus.LIVE, CameraStatus.ENDED):
                self._offline_s += now - self._status_since
            self.status, self._status_since = status, now
            self._status_log.change(status, now)
            if status in (CameraStatus.STALLED, CameraStatus.OFFLINE):
                self._live_since = None
                if self.outage is None or self.outage.end is not None:
                    self._begin_outage(self.last_error or f"no frame for {self.stall_limit():.1f} s (stalled)")
            self._call(self._on_status, self.camera, status)

    def _begin_outage(self, cause: str) -> None:
        self.stats.outages += 1
        self.outage = Outage(self.camera, time.time(), None, redact_text(cause))
        log.warning("camera %s is away: %s", self.camera, self.outage.cause)
        self._call(self._on_outage, self.outage)

    def _delivering(self, now: float) -> None:
        """A frame arrived: an open outage ends once frames have flowed for RECOVERED_S."""
        with self._state_lock:
            if self._live_since is None:
                self._live_since = now
            outage = self.outage
            if outage is not None and outage.end is None and now - self._live_since >= RECOVERED_S:
                back = time.time() - (now - self._live_since)
                self.outage = Outage(outage.camera, outage.start, back, outage.cause)
                log.info("camera %s is back after %.1f s away", self.camera, self.outage.duration_s or 0.0)
                self._call(self._on_outage, self.outage)

    def _call(self, callback: Callable[..., None] | None, *args: object) -> None:
        if callback is not None and self._loop is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed at shutdown
                self._loop.call_soon_threadsafe(callback, *args)

    # -- worker thread -------------------------------------------------------------------------

    def _run(self) -> None:
        end: _End = _End(None)
        seq = 0
        offset = 0.0
        plan = self.plan
        failures_logged = 0.0  # monotonic time of the last "still away" line
        try:
            while not self._stop.is_set():
                attempt = plan.next(time.monotonic())
                if attempt.delay_s > 0 and self._stop.wait(attempt.delay_s):
                    return
                options = dataclasses.replace(
                    self.options, rtsp_transport=attempt.transport, open_timeout_s=attempt.open_timeout_s
                )
                decoder = self._decoder = FrameDecoder(
                    self.camera, self.url, options, interval_hint_s=plan.interval_s,
                    read_floor_s=attempt.min_read_timeout_s, ring=self.ring,
                )  # fmt: skip
                if is_rtsp(self.url):
                    self.transport = attempt.transport_name
                decoded_before = self.stats.decoded
                last_pts = offset
                delivered = 0
                try:
                    for frame in decoder.frames(self._stop, seq_start=seq):
                        now = time.monotonic()
                        if delivered == 0:  # first frame of this session
                            plan.live(now, decoder.frame_interval_s)
                            self.last_error = None
                        delivered += 1
                        plan.frame(now)
                        frame = _shift(frame, offset)
                        last_pts = frame.pts
                        seq = frame.seq + 1
                        self.stats.sampled += 1
                        self.stats.decoded = decoded_before + decoder.decoded  # live, for status and metrics
                        self._set_status(CameraStatus.LIVE)
                        self._delivering(now)
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
                    if self._stop.is_set():
                        return
                    now = time.monotonic()
                    outcome = _outcome(decoder, exc, delivered)
                    plan.failed(outcome, now)
                    self.last_error = str(exc)
                    if not self.retry:
                        self._set_status(CameraStatus.OFFLINE)
                        end = _End(exc)
                        return
                    self.stats.reconnects += 1
                    if self.status is CameraStatus.CONNECTING or outcome is Outcome.LOST:
                        # The outage's own WARNING line ("is away: <this error>") tells it; no second line.
                        log.debug("camera %s: %s; reconnecting", self.camera, exc)
                        failures_logged = now
                    elif now - failures_logged >= 60.0:
                        log.warning(
                            "camera %s: still away after %d attempt(s): %s", self.camera, self.stats.reconnects, exc
                        )
                        failures_logged = now
                    else:
                        log.debug("camera %s: %s (%s)", self.camera, exc, outcome.value)
                    # A session that delivered and then stopped is a stall (reopened at once); a failed attempt
                    # means the camera is offline.
                    self._set_status(CameraStatus.STALLED if outcome is Outcome.LOST else CameraStatus.OFFLINE)
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
            if self.ring is not None:
                self.ring.close()
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
        """Seconds without a decoded frame before the camera counts as stalled: ``options.stall_s``, and at least
        four of the stream's own frame intervals, so a camera that sends one frame every ten seconds is not
        declared stalled between frames."""
        decoder = self._decoder
        return decoder.stall_limit() if decoder is not None else self.options.stall_s

    async def _watch_stalls(self) -> None:
        """A live camera silent for its stall limit is stalled, and its session dropped at once.

        The read timeout ends a session whose socket has gone quiet; this also catches one that keeps sending
        packets that decode to nothing."""
        while True:
            await asyncio.sleep(min(0.25, self.options.stall_s / 4))
            decoder = self._decoder
            if decoder is None or self.status is not CameraStatus.LIVE or decoder.last_frame_mono is None:
                continue
            idle = time.monotonic() - decoder.last_frame_mono
            if idle > self.stall_limit():
                self._set_status(CameraStatus.STALLED)
                if not decoder.abort.is_set():
                    log.debug("camera %s: no frame for %.1f s; dropping the session", self.camera, idle)
                    decoder.abort.set()


def _outcome(decoder: FrameDecoder, exc: SourceError, delivered: int) -> Outcome:
    if delivered:
        return Outcome.LOST
    if not decoder.opened:
        return Outcome.OPEN_TIMEOUT if isinstance(exc, SourceTimeoutError) else Outcome.OPEN_FAILED
    return Outcome.NO_FRAME


def _shift(frame: Frame, offset: float) -> Frame:
    if offset == 0.0:
        return frame
    return dataclasses.replace(frame, pts=frame.pts + offset)
