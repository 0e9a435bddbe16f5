"""What a source is, as someone setting up a camera needs to know it (``feedwatch check``).

Opens the source as the service would (same options, same error messages), reads a few seconds of packets to
measure the GOP and see B-frames, decodes the first frame for a snapshot, and times the open and that frame. An
RTSP source with no transport named is tried over UDP first, then TCP, as the readers do.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import av
import av.error

from .errors import SourceError
from .frames import encode_jpeg
from .redact import redact_url
from .source import SourceOptions, is_rtsp, open_container
from .urls import is_file_source

__all__ = ["SourceReport", "inspect_source"]


@dataclass(frozen=True, slots=True)
class SourceReport:
    """One look at a source. ``gop_s``/``gop_frames``: keyframe interval (None when fewer than two keyframes came
    in the time read); ``b_frames``: packets arrive out of presentation order (reordering delay)."""

    source: str
    transport: str
    container: str
    codec: str
    profile: str | None
    width: int
    height: int
    fps: float | None
    gop_s: float | None
    gop_frames: int | None
    b_frames: bool
    audio: str | None
    open_s: float
    first_frame_s: float
    read_s: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def lines(self) -> list[str]:
        gop = "unknown (fewer than two keyframes in the time read: a long GOP, or a slow stream)"
        if self.gop_s is not None:
            gop = f"{self.gop_s:.2f} s ({self.gop_frames} frames)"
        rate = f"{self.fps:.2f} fps" if self.fps else "unknown frame rate"
        codec = f"{self.codec} ({self.profile})" if self.profile else self.codec
        return [
            f"source:       {self.source}",
            f"transport:    {self.transport}",
            f"container:    {self.container}",
            f"video:        {codec}, {self.width}x{self.height}, {rate}",
            f"GOP:          {gop}",
            f"B-frames:     {'yes' if self.b_frames else 'no'}",
            f"audio:        {self.audio or 'none'}",
            f"opened in:    {self.open_s * 1000:.0f} ms; first frame after {self.first_frame_s * 1000:.0f} ms",
        ]


def inspect_source(url: str, options: SourceOptions, *, read_s: float = 6.0) -> tuple[SourceReport, bytes]:
    """The source's report and a JPEG of its first frame (full size); :class:`SourceError` when it cannot be read."""
    if is_rtsp(url) and options.rtsp_transport is None:
        try:
            return _inspect(url, dataclasses.replace(options, rtsp_transport="udp"), read_s, "udp")
        except SourceError as udp_error:
            try:
                return _inspect(url, dataclasses.replace(options, rtsp_transport="tcp"), read_s, "tcp (UDP failed)")
            except SourceError:
                raise udp_error from None
    if is_rtsp(url):
        transport = str(options.rtsp_transport)
    else:
        transport = "file" if is_file_source(url) else urlsplit(url).scheme.lower()
    return _inspect(url, options, read_s, transport)


def _inspect(url: str, options: SourceOptions, read_s: float, transport: str) -> tuple[SourceReport, bytes]:
    shown = redact_url(url)
    started = time.monotonic()
    container = open_container(url, options)
    opened = time.monotonic() - started
    try:
        if not container.streams.video:
            raise SourceError(f"cannot use {shown}: it has no video track (not a video source)")
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        ctx = video.codec_context
        snapshot: bytes | None = None
        first_frame = 0.0
        keys: list[tuple[float, int]] = []  # (seconds, packet index) of keyframes
        count = 0
        out_of_order = False
        top_pts: int | None = None
        tb = float(video.time_base) if video.time_base else None
        deadline = started + options.open_timeout_s + read_s
        for packet in container.demux(video):
            if packet.size == 0:
                continue
            if packet.pts is not None:
                out_of_order |= top_pts is not None and packet.pts < top_pts
                top_pts = packet.pts if top_pts is None else max(top_pts, packet.pts)
                if packet.is_keyframe and tb is not None:
                    keys.append((packet.pts * tb, count))
            count += 1
            if snapshot is None:
                try:
                    frames: Any = packet.decode()  # video frames (the stubs type every kind)
                except av.error.InvalidDataError:
                    frames = []
                for frame in frames:
                    snapshot = encode_jpeg(frame.to_image())
                    first_frame = time.monotonic() - started
                    break
            if snapshot is not None and (len(keys) >= 3 or time.monotonic() > deadline):
                break
            if time.monotonic() > deadline:
                raise SourceError(f"cannot use {shown}: no frame decoded within {read_s + options.open_timeout_s:g} s")
        if snapshot is None:
            raise SourceError(f"cannot use {shown}: it ended before a frame could be decoded")
        gop_s = gop_frames = None
        if len(keys) >= 2:
            gop_s = keys[1][0] - keys[0][0]
            gop_frames = keys[1][1] - keys[0][1]
        rate = video.average_rate or video.guessed_rate
        report = SourceReport(
            source=shown, transport=transport, container=container.format.name, codec=ctx.name,
            profile=ctx.profile, width=ctx.width, height=ctx.height, fps=float(rate) if rate else None,
            gop_s=gop_s, gop_frames=gop_frames, b_frames=out_of_order or bool(getattr(ctx, "has_b_frames", 0)),
            audio=audio.codec_context.name if audio is not None else None, open_s=opened, first_frame_s=first_frame,
            read_s=time.monotonic() - started,
        )  # fmt: skip
        return report, snapshot
    except av.error.FFmpegError as exc:
        raise SourceError(f"cannot read {shown}: {exc}") from exc
    finally:
        container.close()
