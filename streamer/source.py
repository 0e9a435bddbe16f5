"""Decoding a stream into sampled :class:`~streamer.frames.Frame` objects with PyAV.

:class:`FrameDecoder` is synchronous and runs in a worker thread: it opens the source, decodes,
samples by timestamp and downscales once. :mod:`streamer.reader` wraps it for asyncio, with
reconnects, status and the overflow policy.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import av
import av.error
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from .errors import SourceError, SourceTimeoutError
from .frames import Frame, encode_jpeg
from .packets import PacketRing, StoredPacket
from .recovery import session_read_timeout
from .redact import redact_text, redact_url
from .regions import Polygon, apply_masks
from .sampling import RateSampler, SampleRate
from .urls import is_file_source

__all__ = ["FrameDecoder", "PacketKeeper", "SourceOptions", "is_file_source", "is_rtsp", "open_container", "probe"]

log = logging.getLogger(__name__)

# Consecutive undecodable packets tolerated before the stream is declared broken.
_MAX_BAD_PACKETS = 50


@dataclass(frozen=True, slots=True)
class SourceOptions:
    """How one source is opened, decoded and sampled."""

    sample_fps: float = 1.0
    keyframes_only: bool = False
    analysis_size: int = 224
    snapshot_size: int = 640
    realtime: bool = False
    loop: bool = False
    rtsp_transport: Literal["tcp", "udp"] | None = None
    open_timeout_s: float = 10.0
    # The longest a read may wait (a slow camera's four frame intervals are capped here); a session waits less:
    # the stall limit, stall_s or four frame intervals, whichever is longer.
    read_timeout_s: float = 30.0
    stall_s: float = 2.0
    decoder_threads: int = 0  # 0: one per CPU core
    # Skip decoding non-reference frames (B-frames, mostly) when sampling at most half the stream's
    # rate: the sampler then picks the next reference frame, at most a frame or two later. None: auto.
    skip_nonref: bool | None = None
    # Privacy masks (normalised polygons), blacked out on every decoded frame before it is scaled or encoded.
    masks: tuple[Polygon, ...] = ()
    # The live sampling rate, when the analysis side may raise it for a while (bursts on motion); else sample_fps.
    rate: SampleRate | None = None


def is_rtsp(url: str) -> bool:
    return urlsplit(url).scheme.lower() in ("rtsp", "rtsps")


# RTSP announces its streams in the SDP, so FFmpeg need not read seconds of packets to learn them: by default it
# reads 20 frames to estimate the frame rate (2 s at 10 fps, measured: opens of 3.0-3.5 s against 0.9 s with these)
# and analyses up to 5 s. The rate comes from the SDP or the packets' timestamps instead.
_RTSP_PROBE = {"fpsprobesize": "0", "analyzeduration": "500000"}


def open_container(url: str, options: SourceOptions) -> Any:
    """Open ``url`` for reading with FFmpeg, mapping every failure to one clear :class:`SourceError`
    (:class:`SourceTimeoutError` when the source did not answer in time)."""
    shown = redact_url(url)
    if is_file_source(url):
        path = url.removeprefix("file://")
        if not os.path.exists(path):
            raise SourceError(f"cannot open {shown}: no such file")
        if os.path.isdir(path):
            raise SourceError(f"cannot open {shown}: it is a directory, not a video file")
    ffmpeg_options: dict[str, str] = {}
    if is_rtsp(url):
        ffmpeg_options.update(_RTSP_PROBE)
        if options.rtsp_transport:
            ffmpeg_options["rtsp_transport"] = options.rtsp_transport
    started = time.monotonic()
    try:
        return av.open(
            url,
            mode="r",
            options=ffmpeg_options,
            timeout=(options.open_timeout_s, options.read_timeout_s),
        )
    except av.error.HTTPUnauthorizedError as exc:
        raise SourceError(f"cannot open {shown}: authentication failed (check user name and password)") from exc
    except av.error.HTTPForbiddenError as exc:
        raise SourceError(f"cannot open {shown}: access forbidden (403)") from exc
    except av.error.HTTPNotFoundError as exc:
        raise SourceError(f"cannot open {shown}: not found on the server (404)") from exc
    except av.error.InvalidDataError as exc:
        if not is_file_source(url):
            # FFmpeg's network demuxers report a silent server as invalid data once they give up.
            if time.monotonic() - started >= 0.9 * options.open_timeout_s:
                raise SourceTimeoutError(f"cannot open {shown}: no answer within {options.open_timeout_s:g} s") from exc
            raise SourceError(f"cannot open {shown}: the server did not send a stream FFmpeg can read") from exc
        raise SourceError(f"cannot open {shown}: not a video FFmpeg can read (invalid data)") from exc
    except av.error.ConnectionRefusedError as exc:
        raise SourceError(f"cannot open {shown}: connection refused (is the camera or server up?)") from exc
    except av.error.ExitError as exc:
        raise SourceTimeoutError(f"cannot open {shown}: no answer within {options.open_timeout_s:g} s") from exc
    except (av.error.FFmpegError, OSError) as exc:
        raise SourceError(f"cannot open {shown}: {redact_text(str(exc))}") from exc


class _Stopped(Exception):
    """The reader was asked to stop while an open was under way."""


def _open_watched(url: str, options: SourceOptions, cancelled: Callable[[], bool]) -> Any:
    """:func:`open_container` in a helper thread that this one can walk away from.

    FFmpeg's own timeout does not cover everything an open may block on (resolving a host name, for one), and
    it cannot see the reader's stop flag. This thread waits at most the open timeout (and a little), and not at
    all once ``cancelled()``; an open left behind closes what it opens when it finally returns.
    """
    done = threading.Event()
    lock = threading.Lock()
    result: dict[str, Any] = {}
    abandoned = False

    def work() -> None:
        try:
            container = open_container(url, options)
        except BaseException as exc:  # handed to the waiting thread, or dropped with the abandoned open
            with lock:
                result["error"] = exc
                done.set()
            return
        with lock:
            if not abandoned:
                result["container"] = container
                done.set()
                return
        container.close()  # nobody waits for it any more

    threading.Thread(target=work, name="open", daemon=True).start()
    deadline = time.monotonic() + options.open_timeout_s + 1.0
    while not done.wait(0.05):
        if cancelled() or time.monotonic() > deadline:
            with lock:
                abandoned = not done.is_set()
            if abandoned:
                if cancelled():
                    raise _Stopped
                raise SourceTimeoutError(
                    f"cannot open {redact_url(url)}: no answer within {options.open_timeout_s:g} s (abandoned)"
                )
            break
    if "error" in result:
        raise result["error"]
    return result["container"]


def probe(url: str, options: SourceOptions) -> None:
    """Open ``url`` and check it has a video track; raise :class:`SourceError` otherwise."""
    container = open_container(url, options)
    try:
        if not container.streams.video:
            raise SourceError(f"cannot read {redact_url(url)}: it has no video track")
    finally:
        container.close()


# Planar YUV formats that swscale scales plane by plane, so a frame can be shrunk before it is converted to RGB.
_SHRINK_IN_YUV = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p"})


def _rgb(vf: Any, size: tuple[int, int]) -> NDArray[np.uint8]:
    """``vf`` area-averaged to ``size`` as RGB. swscale works in this thread only: its slice threads would compete
    with the decoder's for the same cores."""
    image: NDArray[np.uint8] = vf.reformat(
        width=size[0], height=size[1], format="rgb24", interpolation="AREA", threads=1
    ).to_ndarray()
    return image


def _convert(
    vf: Any, size: tuple[int, int], snap_size: tuple[int, int] | None, masks: tuple[Polygon, ...] = ()
) -> tuple[NDArray[np.uint8], bytes | None]:
    """The analysis image and the snapshot JPEG of a decoded frame, with one pass of swscale over the full frame.

    swscale's area averaging (the right filter for downscaling) makes the larger of the two from the frame.
    Usually that is the snapshot, and the frame is YUV: it is shrunk in YUV, then both images come from the
    small YUV frame (its RGB conversion, and an area average to analysis size), which costs a third less than
    scaling straight to RGB and box-filtering the analysis image from that (`bench ingest`, full mode). The
    snapshot's chroma is then at half its size, as in the 4:2:0 JPEG it becomes anyway.
    Privacy ``masks`` are blacked out on the larger image, before the smaller is made or anything is encoded.
    """
    if snap_size is None:
        return apply_masks(_rgb(vf, size), masks), None
    if snap_size[0] * snap_size[1] > size[0] * size[1] and not masks and vf.format.name in _SHRINK_IN_YUV:
        small = vf.reformat(width=snap_size[0], height=snap_size[1], interpolation="AREA", threads=1)
        snapshot: NDArray[np.uint8] = small.reformat(format="rgb24", threads=1).to_ndarray()
        return _rgb(small, size), encode_jpeg(snapshot)
    big_size = max(size, snap_size, key=lambda wh: wh[0] * wh[1])
    big = apply_masks(_rgb(vf, big_size), masks)
    small_size = snap_size if big_size == size else size
    small_image = (
        big if small_size == big_size else np.asarray(Image.fromarray(big).resize(small_size, Image.Resampling.BOX))
    )
    return (big, encode_jpeg(small_image)) if big_size == size else (small_image, encode_jpeg(big))


_NO_IMAGE: NDArray[np.uint8] = np.zeros((0, 0, 3), np.uint8)  # a frame's pixels before they are converted


class _Ahead:
    """Sampled frames being converted on a helper thread, handed out in order (``threaded``; else unused)."""

    _DEPTH = 4  # frames converting at once; the decoder waits for the oldest beyond that

    def __init__(self, camera: str, *, threaded: bool) -> None:
        self.threaded = threaded
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"convert-{camera}") if threaded else None
        self._queue: collections.deque[tuple[Frame, Future[tuple[NDArray[np.uint8], bytes | None]]]] = (
            collections.deque()
        )

    def __bool__(self) -> bool:
        return bool(self._queue)

    def full(self) -> bool:
        return len(self._queue) >= self._DEPTH

    def ready(self) -> bool:
        return bool(self._queue) and self._queue[0][1].done()

    def put(self, meta: Frame, vf: Any, size: tuple[int, int], snap: tuple[int, int] | None, masks: Any) -> None:
        assert self._pool is not None
        self._queue.append((meta, self._pool.submit(_convert, vf, size, snap, masks)))

    def pop(self) -> Frame:
        """The oldest frame, converted (waiting for it if need be)."""
        meta, future = self._queue.popleft()
        image, snapshot = future.result()
        return dataclasses.replace(meta, image=image, snapshot=snapshot)

    def close(self) -> None:
        self._queue.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


class PacketKeeper:
    """Hands one session's packets to a :class:`PacketRing`, with the wall-clock time each one shows.

    A file's packets show ``opened_wall`` plus their stream time from the first packet (as its frames do). A live
    stream's show when its first packet arrived plus their stream time since, re-anchored when that strays more
    than a second from the clock (a camera whose timestamps jump)."""

    def __init__(self, ring: PacketRing | None, container: Any, video: Any, opened_wall: float | None) -> None:
        self.ring = ring
        self.video = video
        audio = container.streams.audio[0] if ring is not None and container.streams.audio else None
        self.streams = [video] if audio is None else [video, audio]
        if ring is not None:
            ring.start(video, audio)
        self.opened_wall = opened_wall
        self.anchor: tuple[float, float] | None = None  # (wall, stream seconds)
        self.tbs = {s.index: float(s.time_base) for s in self.streams if s.time_base}

    def add(self, packet: Any) -> bool:
        """Keep ``packet``; True when it is not video (and so not for the decoder)."""
        is_audio = bool(packet.stream_index != self.video.index)
        if packet.size == 0 or packet.pts is None:
            return is_audio
        tb = self.tbs.get(packet.stream_index)
        if tb is None:
            return is_audio
        t = packet.pts * tb
        now = time.time()
        if self.anchor is None:
            self.anchor = (self.opened_wall if self.opened_wall is not None else now, t)
        wall = self.anchor[0] + t - self.anchor[1]
        if self.opened_wall is None and not is_audio and abs(wall - now) > 1.0:
            self.anchor = (now, t)
            wall = now
        assert self.ring is not None
        self.ring.add(StoredPacket(
            wall, packet.pts, packet.dts, packet.duration or 0, bool(packet.is_keyframe), is_audio, bytes(packet)
        ))  # fmt: skip
        return is_audio


def _skip_nonref(opts: SourceOptions, stream_fps: float | None) -> bool:
    if opts.skip_nonref is not None:
        return opts.skip_nonref
    return opts.sample_fps > 0 and stream_fps is not None and opts.sample_fps * 2 <= stream_fps


def _scaled_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """Size that fits ``max_side`` on the long side, keeping aspect, never upscaling, even numbers."""
    scale = min(1.0, max_side / max(width, height))
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


class FrameDecoder:
    """Decode one source session into sampled frames. Blocking: run it in a worker thread."""

    def __init__(
        self,
        camera: str,
        url: str,
        options: SourceOptions,
        *,
        interval_hint_s: float | None = None,
        read_floor_s: float = 0.0,
        ring: PacketRing | None = None,
    ) -> None:
        self.camera = camera
        self.ring = ring  # keeps every demuxed packet (for clips), when given
        self.url = url
        self.options = options
        self.interval_hint_s = interval_hint_s  # the stream's frame interval, if a past session measured it
        self.read_floor_s = read_floor_s
        self.opened = False  # the session opened (a failure after this is not an open failure)
        self.read_timeout_s = options.read_timeout_s  # what this session's reads wait at most
        self.decoded = 0
        self.bad_packets = 0
        self.duration_s: float | None = None
        # For the stall watchdog: when a frame last came out of the decoder, and the stream's usual
        # interval between frames (so a slow, low-fps camera is not declared dead).
        self.last_frame_mono: float | None = None
        self.frame_interval_s: float | None = None
        # Set by the watchdog to abandon a session that delivers packets but no frames.
        self.abort = threading.Event()

    def _open(self, stop: threading.Event, interval_s: float | None = None) -> Any:
        """Open the source with reads that wait the stall limit for ``interval_s`` (or the hint); None if stopped."""
        opts = self.options
        self.read_timeout_s = session_read_timeout(
            opts.stall_s, interval_s or self.interval_hint_s, opts.read_timeout_s, self.read_floor_s
        )
        try:
            container = _open_watched(
                self.url,
                dataclasses.replace(opts, read_timeout_s=self.read_timeout_s),
                lambda: stop.is_set() or self.abort.is_set(),
            )
        except _Stopped:
            return None
        self.opened = True
        return container

    def _fits(self, interval_s: float) -> bool:
        """Whether this session's reads wait long enough for a stream with frames every ``interval_s``."""
        opts = self.options
        needed = session_read_timeout(opts.stall_s, interval_s, opts.read_timeout_s, self.read_floor_s)
        return needed <= self.read_timeout_s + 0.25

    def stall_limit(self) -> float:
        """Seconds without a decoded frame after which this session counts as stalled."""
        return max(self.options.stall_s, 4.0 * self.frame_interval_s if self.frame_interval_s else 0.0)

    def frames(self, stop: threading.Event, *, seq_start: int = 0) -> Iterator[Frame]:
        """Open the source and yield sampled frames until end of stream or ``stop`` is set.

        ``pts`` of the frames counts from the first decoded frame of this session.
        Raises :class:`SourceError` when the source cannot be opened or turns out unreadable.
        """
        opts = self.options
        shown = redact_url(self.url)
        container = self._open(stop)
        if container is None:
            return
        # Footage replayed as fast as possible is converted on a helper thread, so the decoder's frame threads are
        # fed while a sampled frame is scaled and encoded (`bench ingest`, full mode: 0.92x -> 0.95x ffmpeg).
        ahead = _Ahead(self.camera, threaded=is_file_source(self.url) and not opts.realtime)
        try:
            if not container.streams.video:
                raise SourceError(f"cannot read {shown}: it has no video track")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            if rate and not self._fits(float(1 / rate)):
                # A slow camera, by its own account: reopen once, with reads that wait long enough for it.
                container.close()
                container = self._open(stop, float(1 / rate))
                if container is None:
                    return
                stream = container.streams.video[0]
            if container.duration:
                self.duration_s = container.duration / 1_000_000
            ctx = stream.codec_context
            if opts.keyframes_only:
                ctx.skip_frame = "NONKEY"
            ctx.thread_type = "AUTO"
            ctx.thread_count = opts.decoder_threads or os.cpu_count() or 1
            rate = stream.average_rate or stream.guessed_rate
            if not opts.keyframes_only and _skip_nonref(opts, float(rate) if rate else None):
                ctx.skip_frame = "NONREF"
            if rate:
                self.frame_interval_s = float(1 / rate)
            self.last_frame_mono = time.monotonic()  # the stall clock starts when the session opens
            sampler = RateSampler(opts.rate or opts.sample_fps)
            is_file = is_file_source(self.url)
            opened_wall = time.time()
            # A file replayed as fast as possible stands for footage that has already happened: its
            # timeline ends now. Paced at real time, it starts now, like a camera.
            if not opts.realtime and self.duration_s:
                opened_wall -= self.duration_s
            opened_mono = time.monotonic()
            t0: float | None = None
            seq = seq_start
            size: tuple[int, int] | None = None
            snap_size: tuple[int, int] | None = None
            bad_run = 0
            prev_t: float | None = None
            time_base = float(stream.time_base) if stream.time_base else None
            keep = PacketKeeper(self.ring, container, stream, opened_wall if is_file else None)
            for packet in container.demux(*keep.streams):
                if stop.is_set():
                    return
                while ahead.ready():
                    yield ahead.pop()
                if keep.ring is not None and keep.add(packet):
                    continue  # an audio packet, kept and not decoded
                if opts.keyframes_only and packet.size and not packet.is_keyframe:
                    continue  # the decoder would skip it (NONKEY); not handing it over saves a call per packet
                if self.abort.is_set():
                    raise SourceError(f"lost {shown}: no frame decoded for too long (stalled)")
                # Once frames have come, packets that bring none for the stall limit end the session here, without
                # waiting for the watchdog: when a quiet UDP session times out, FFmpeg first hands over a packet it
                # held for reordering, which would otherwise buy the session another read timeout (measured: the
                # session then ended 4 s after the last packet instead of 2 s).
                if self.decoded and time.monotonic() - (self.last_frame_mono or 0.0) > self.stall_limit():
                    raise SourceError(f"lost {shown}: no frame decoded for {self.stall_limit():.1f} s (stalled)")
                try:
                    decoded = packet.decode()
                    bad_run = 0
                except av.error.InvalidDataError:
                    self.bad_packets += 1
                    bad_run += 1
                    if bad_run >= _MAX_BAD_PACKETS:
                        raise SourceError(f"cannot read {shown}: {bad_run} undecodable packets in a row") from None
                    continue
                for vf in decoded:
                    self.decoded += 1
                    now = time.monotonic()
                    self.last_frame_mono = now
                    pts = vf.pts
                    # Float arithmetic on the raw pts: frame.time goes through Fractions, slow per frame.
                    t_abs = pts * time_base if pts is not None and time_base is not None else now - opened_mono
                    if prev_t is not None and 0 < t_abs - prev_t < 60:
                        step = t_abs - prev_t
                        self.frame_interval_s = (
                            step if self.frame_interval_s is None else (0.9 * self.frame_interval_s + 0.1 * step)
                        )
                    prev_t = t_abs
                    if t0 is None:
                        t0 = t_abs
                    t = max(0.0, t_abs - t0)
                    if not sampler.keep(t):
                        continue
                    if size is None:
                        size = _scaled_size(vf.width, vf.height, opts.analysis_size)
                        snap_size = _scaled_size(vf.width, vf.height, opts.snapshot_size)
                    snap = snap_size if opts.snapshot_size > 0 else None
                    if is_file:
                        wall = opened_wall + t
                        if opts.realtime:
                            delay = opened_mono + t - time.monotonic()
                            if delay > 0 and stop.wait(delay):
                                return
                    else:
                        wall = time.time()
                    meta = Frame(
                        self.camera, seq, t, wall, _NO_IMAGE, keyframe=bool(vf.key_frame), first=seq == seq_start
                    )
                    seq += 1
                    if not ahead.threaded:
                        image, snapshot = _convert(vf, size, snap, opts.masks)
                        yield dataclasses.replace(meta, image=image, snapshot=snapshot)
                        continue
                    if ahead.full():
                        yield ahead.pop()
                    ahead.put(meta, vf, size, snap, opts.masks)
            while ahead:
                yield ahead.pop()
        except av.error.ExitError as exc:
            while ahead:  # frames decoded before the error are delivered first
                yield ahead.pop()
            if self.abort.is_set():
                raise SourceError(f"lost {shown}: no frame decoded for too long (stalled)") from exc
            raise SourceError(f"lost {shown}: no data within {self.read_timeout_s:g} s") from exc
        except (av.error.FFmpegError, OSError) as exc:
            while ahead:
                yield ahead.pop()
            if isinstance(exc, SourceError):
                raise
            raise SourceError(f"lost {shown}: {redact_text(str(exc))}") from exc
        finally:
            ahead.close()
            container.close()
