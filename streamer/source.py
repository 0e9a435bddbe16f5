"""Decoding a stream into sampled :class:`~streamer.frames.Frame` objects with PyAV.

:class:`FrameDecoder` is synchronous and runs in a worker thread: it opens the source, decodes,
samples by timestamp and downscales once. :mod:`streamer.reader` wraps it for asyncio, with
reconnects, status and the overflow policy.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import av
import av.error
import numpy as np

from .errors import SourceError
from .frames import Frame, encode_jpeg
from .redact import redact_text, redact_url
from .sampling import RateSampler

__all__ = ["FrameDecoder", "SourceOptions", "is_file_source", "open_container", "probe"]

log = logging.getLogger(__name__)

# Consecutive undecodable packets tolerated before the stream is declared broken.
_MAX_BAD_PACKETS = 50


@dataclass(frozen=True, slots=True)
class SourceOptions:
    """How one source is opened, decoded and sampled."""

    sample_fps: float = 1.0
    keyframes_only: bool = False
    analysis_size: int = 448
    snapshot_size: int = 1280
    realtime: bool = False
    loop: bool = False
    rtsp_transport: Literal["tcp", "udp"] | None = None
    open_timeout_s: float = 10.0
    read_timeout_s: float = 10.0
    decoder_threads: int = 0


def is_file_source(url: str) -> bool:
    """True for a local path or ``file:`` URL (finite, seekable, replayable), False for network streams."""
    scheme = urlsplit(url).scheme.lower()
    return scheme in ("", "file") or (len(scheme) == 1 and os.name == "nt")


def open_container(url: str, options: SourceOptions) -> Any:
    """Open ``url`` for reading with FFmpeg, mapping every failure to one clear :class:`SourceError`."""
    shown = redact_url(url)
    if is_file_source(url):
        path = url.removeprefix("file://")
        if not os.path.exists(path):
            raise SourceError(f"cannot open {shown}: no such file")
        if os.path.isdir(path):
            raise SourceError(f"cannot open {shown}: it is a directory, not a video file")
    ffmpeg_options: dict[str, str] = {}
    if options.rtsp_transport and urlsplit(url).scheme.lower() in ("rtsp", "rtsps"):
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
                raise SourceError(f"cannot open {shown}: no answer within {options.open_timeout_s:g} s") from exc
            raise SourceError(f"cannot open {shown}: the server did not send a stream FFmpeg can read") from exc
        raise SourceError(f"cannot open {shown}: not a video FFmpeg can read (invalid data)") from exc
    except av.error.ConnectionRefusedError as exc:
        raise SourceError(f"cannot open {shown}: connection refused (is the camera or server up?)") from exc
    except av.error.ExitError as exc:
        raise SourceError(f"cannot open {shown}: no answer within {options.open_timeout_s:g} s") from exc
    except (av.error.FFmpegError, OSError) as exc:
        raise SourceError(f"cannot open {shown}: {redact_text(str(exc))}") from exc


def probe(url: str, options: SourceOptions) -> None:
    """Open ``url`` and check it has a video track; raise :class:`SourceError` otherwise."""
    container = open_container(url, options)
    try:
        if not container.streams.video:
            raise SourceError(f"cannot read {redact_url(url)}: it has no video track")
    finally:
        container.close()


def _scaled_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """Size that fits ``max_side`` on the long side, keeping aspect, never upscaling, even numbers."""
    scale = min(1.0, max_side / max(width, height))
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


class FrameDecoder:
    """Decode one source session into sampled frames. Blocking: run it in a worker thread."""

    def __init__(self, camera: str, url: str, options: SourceOptions) -> None:
        self.camera = camera
        self.url = url
        self.options = options
        self.decoded = 0
        self.bad_packets = 0
        self.duration_s: float | None = None

    def frames(self, stop: threading.Event, *, seq_start: int = 0) -> Iterator[Frame]:
        """Open the source and yield sampled frames until end of stream or ``stop`` is set.

        ``pts`` of the frames counts from the first decoded frame of this session.
        Raises :class:`SourceError` when the source cannot be opened or turns out unreadable.
        """
        opts = self.options
        shown = redact_url(self.url)
        container = open_container(self.url, opts)
        try:
            if not container.streams.video:
                raise SourceError(f"cannot read {shown}: it has no video track")
            stream = container.streams.video[0]
            if container.duration:
                self.duration_s = container.duration / 1_000_000
            ctx = stream.codec_context
            if opts.keyframes_only:
                ctx.skip_frame = "NONKEY"
            ctx.thread_type = "AUTO"
            if opts.decoder_threads:
                ctx.thread_count = opts.decoder_threads
            sampler = RateSampler(opts.sample_fps)
            is_file = is_file_source(self.url)
            opened_wall = time.time()
            opened_mono = time.monotonic()
            t0: float | None = None
            seq = seq_start
            size: tuple[int, int] | None = None
            snap_size: tuple[int, int] | None = None
            bad_run = 0
            for packet in container.demux(stream):
                if stop.is_set():
                    return
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
                    t_abs = vf.time
                    if t_abs is None:
                        t_abs = time.monotonic() - opened_mono
                    if t0 is None:
                        t0 = t_abs
                    t = max(0.0, t_abs - t0)
                    if not sampler.keep(t):
                        continue
                    if size is None:
                        size = _scaled_size(vf.width, vf.height, opts.analysis_size)
                        snap_size = _scaled_size(vf.width, vf.height, opts.snapshot_size)
                    image = vf.reformat(width=size[0], height=size[1], format="rgb24").to_ndarray()
                    snapshot = None
                    if opts.snapshot_size > 0 and snap_size is not None:
                        big = (
                            image
                            if snap_size == size
                            else vf.reformat(width=snap_size[0], height=snap_size[1], format="rgb24").to_ndarray()
                        )
                        snapshot = encode_jpeg(big)
                    if is_file:
                        wall = opened_wall + t
                        if opts.realtime:
                            delay = opened_mono + t - time.monotonic()
                            if delay > 0 and stop.wait(delay):
                                return
                    else:
                        wall = time.time()
                    yield Frame(
                        camera=self.camera,
                        seq=seq,
                        pts=t,
                        wall=wall,
                        image=np.ascontiguousarray(image),
                        snapshot=snapshot,
                        keyframe=bool(vf.key_frame),
                    )
                    seq += 1
        except av.error.ExitError as exc:
            raise SourceError(f"lost {shown}: no data within {opts.read_timeout_s:g} s") from exc
        except (av.error.FFmpegError, OSError) as exc:
            if isinstance(exc, SourceError):
                raise
            raise SourceError(f"lost {shown}: {redact_text(str(exc))}") from exc
        finally:
            container.close()
