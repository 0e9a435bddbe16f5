"""Event clips: kept packets remuxed into a fast-start MP4, without decoding or encoding a frame.

:func:`write_clip` writes GOPs cut from a :class:`~streamer.packets.PacketRing`; :func:`cut_file` cuts a range of
a video file the same way (a file replayed faster than real time is its own archive). Either writes to a
temporary name beside the target, fsyncs, then renames: a crash or ``kill -9`` mid-write leaves no half clip
under the final name. Blocking: call from a worker thread.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error
import numpy as np
from numpy.typing import NDArray

from .errors import ClipError
from .packets import Gop, Session, StoredPacket
from .regions import Polygon, apply_masks, polygon_mask

__all__ = ["BROWSER_VIDEO", "ClipError", "ClipFrame", "ClipInfo", "clip_frames", "cut_file", "mask_clip", "write_clip"]

# Video codecs browsers play from an MP4: H.264 everywhere; H.265 in Safari and in Chrome/Edge where the device
# decodes HEVC in hardware (Firefox not at all). Other codecs still make a valid MP4 that players like VLC open.
BROWSER_VIDEO = {"h264": True, "hevc": False, "av1": True, "vp9": True}


@dataclass(frozen=True, slots=True)
class ClipInfo:
    """What a written clip holds: its wall-clock span, format, and any gaps (reconnects) inside it."""

    path: str
    start: float  # wall time of its first frame (a keyframe)
    end: float  # wall time just after its last video frame
    nbytes: int
    codec: str
    width: int
    height: int
    fps: float | None
    audio: str | None = None
    gaps: list[tuple[float, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return max(0.0, self.end - self.start)

    @property
    def browser_playable(self) -> bool:
        return BROWSER_VIDEO.get(self.codec, False)

    def to_dict(self) -> dict[str, object]:
        return {
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "duration_s": round(self.duration_s, 3),
            "bytes": self.nbytes,
            "codec": self.codec,
            "width": self.width,
            "height": self.height,
            "fps": None if self.fps is None else round(self.fps, 3),
            "audio": self.audio,
            "gaps": [[round(a, 3), round(b, 3)] for a, b in self.gaps],
            "browser_playable": self.browser_playable,
            "notes": list(self.notes),
        }


def _compatible(a: Session, b: Session) -> bool:
    ca, cb = a.video.codec_context, b.video.codec_context
    return (a.codec, a.width, a.height, ca.extradata) == (b.codec, b.width, b.height, cb.extradata)


def write_clip(gops: list[Gop], path: Path, *, max_s: float | None = None, masks: tuple[Polygon, ...] = ()) -> ClipInfo:
    """Remux ``gops`` (from :meth:`PacketRing.cut`) into an MP4 at ``path``; timestamps start at zero.

    GOPs of a later session whose codec parameters differ from the first's (the camera changed resolution
    across a reconnect) cannot share one MP4 track: the clip keeps the first session's and notes the rest.
    With privacy ``masks`` the remuxed clip is then decoded, masked and re-encoded (:func:`mask_clip`)."""
    if masks:
        return _then_masked(path, masks, lambda tmp: write_clip(gops, tmp, max_s=max_s))
    gops = [g for g in gops if g.packets]
    if not gops:
        raise ClipError(f"no packets kept for {path.stem} (the ring holds nothing in that range)")
    first = gops[0].session
    notes: list[str] = []
    kept = [g for g in gops if g.session is first or _compatible(first, g.session)]
    if len(kept) < len(gops):
        notes.append("parts after a reconnect with different stream parameters are left out")
    if first.audio_codec is not None and first.audio is None:
        notes.append(f"audio ({first.audio_codec}) left out: an MP4 cannot carry it")
    start = kept[0].start
    if max_s is not None:
        kept = [g for g in kept if g.start < start + max_s]
    gaps: list[tuple[float, float]] = []
    for prev, cur in itertools.pairwise(kept):
        if cur.session is not prev.session:
            gaps.append((prev.end, cur.start))
    with _Muxer(path, first) as mux:
        for gop in kept:
            mux.session(gop)
            for packet in gop.packets:
                if max_s is not None and packet.wall >= start + max_s:
                    break
                mux.add(packet)
        end = mux.video_end
    size = path.stat().st_size
    return ClipInfo(
        str(path), start, start + end, size, first.codec, first.width, first.height, first.fps,
        audio=first.audio_codec if first.audio is not None else None, gaps=gaps, notes=notes,
    )  # fmt: skip


class _Muxer:
    """An MP4 being written to a temporary name; renamed over ``path`` only when complete."""

    def __init__(self, path: Path, first: Session) -> None:
        self.path = path
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        os.chmod(tmp, 0o644)  # what the API serves and users copy; mkstemp's own is 0600
        self.tmp = Path(tmp)
        self.first = first
        self.out: Any = None
        self.video: Any = None
        self.audio: Any = None
        self.video_end = 0.0  # seconds: the end of the last video packet
        self._last_dts: dict[bool, int] = {}
        self._offset = 0.0  # seconds from the clip's start to the current session's origin
        self._origin = 0.0  # the current session's first keyframe, in its own stream seconds
        self._session: Session | None = None
        self._t0_wall = 0.0

    def __enter__(self) -> _Muxer:
        try:
            self.out = av.open(str(self.tmp), "w", format="mp4", options={"movflags": "+faststart"})
            self.video = self.out.add_stream_from_template(self.first.video)
            if self.first.codec == "hevc":
                self.video.codec_tag = "hvc1"  # what Safari and Chrome look for; FFmpeg's default is hev1
            if self.first.audio is not None:
                self.audio = self.out.add_stream_from_template(self.first.audio)
        except BaseException:
            self._discard()
            raise
        return self

    def session(self, gop: Gop) -> None:
        """The next GOP: a new session rebases its timestamps so they go on from the clip's wall clock."""
        if gop.session is self._session:
            return
        key = gop.packets[0]
        tb = gop.session.video_time_base
        if self._session is None:
            self._t0_wall = gop.start
        self._session = gop.session
        self._origin = float((key.pts if key.pts is not None else key.dts or 0) * tb)
        self._offset = max(gop.start - self._t0_wall, self.video_end)

    def add(self, packet: StoredPacket) -> None:
        session = self._session
        assert session is not None
        stream = self.audio if packet.audio else self.video
        if stream is None:
            return
        tb_in = session.audio_time_base if packet.audio else session.video_time_base
        assert tb_in is not None
        tb_out: Fraction = stream.time_base or tb_in

        def rebased(ts: int | None) -> int | None:
            if ts is None:
                return None
            seconds = self._offset + float(ts * tb_in) - self._origin
            return round(seconds / tb_out)

        pts, dts = rebased(packet.pts), rebased(packet.dts if packet.dts is not None else packet.pts)
        if packet.audio and (pts is None or pts < 0):
            return  # audio from before the first video frame
        last = self._last_dts.get(packet.audio)
        if dts is not None and last is not None and dts <= last:
            shift = last + 1 - dts
            dts += shift
            pts = None if pts is None else pts + shift
        out = av.Packet(packet.data)
        out.pts, out.dts = pts, dts
        out.duration = round(packet.duration * tb_in / tb_out) if packet.duration else 0
        out.time_base = tb_out
        out.is_keyframe = packet.keyframe
        out.stream = stream
        self.out.mux(out)
        if dts is not None:
            self._last_dts[packet.audio] = dts
        if not packet.audio and pts is not None:
            self.video_end = max(self.video_end, float((pts + (out.duration or 0)) * tb_out))

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc_type is not None:
            self._discard()
            if isinstance(exc, (av.error.FFmpegError, OSError)) and not isinstance(exc, ClipError):
                raise ClipError(f"cannot write clip {self.path.name}: {exc}") from exc
            return
        try:
            self.out.close()
            with open(self.tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(self.tmp, self.path)
        except (av.error.FFmpegError, OSError) as err:
            self._discard()
            raise ClipError(f"cannot write clip {self.path.name}: {err}") from err

    def _discard(self) -> None:
        if self.out is not None:
            with contextlib.suppress(Exception):
                self.out.close()
        self.tmp.unlink(missing_ok=True)


def cut_file(
    source: str, start_s: float, end_s: float, path: Path, *, wall_origin: float = 0.0, masks: tuple[Polygon, ...] = ()
) -> ClipInfo:
    """Cut ``[start_s, end_s]`` (seconds from the file's first frame) out of a video file into an MP4 at ``path``,
    from the keyframe at or before ``start_s``. Walls in the result are ``wall_origin`` plus file seconds."""
    if masks:
        return _then_masked(path, masks, lambda tmp: cut_file(source, start_s, end_s, tmp, wall_origin=wall_origin))
    try:
        container = av.open(source.removeprefix("file://"))
    except (av.error.FFmpegError, OSError) as exc:
        raise ClipError(f"cannot cut a clip from {Path(source).name}: {exc}") from exc
    try:
        if not container.streams.video:
            raise ClipError(f"cannot cut a clip from {Path(source).name}: it has no video track")
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        session = Session(video, audio)
        tb: Fraction | None = video.time_base
        if tb is None:
            raise ClipError(f"cannot cut a clip from {Path(source).name}: its video track has no time base")
        origin = float(video.start_time * tb) if video.start_time is not None else 0.0
        container.seek(max(0, round((origin + max(0.0, start_s)) / tb)), stream=video, backward=True)
        gops: list[Gop] = []
        streams = [video] if session.audio is None else [video, audio]
        for packet in container.demux(streams):
            if packet.size == 0 or packet.pts is None:
                continue
            is_audio = packet.stream is not video
            t = float(packet.pts * packet.time_base) - origin
            if not is_audio and t > end_s and (packet.is_keyframe or t > end_s + 1.0):
                break
            key = bool(packet.is_keyframe)
            data = bytes(packet)
            stored = StoredPacket(wall_origin + t, packet.pts, packet.dts, packet.duration or 0, key, is_audio, data)
            if not is_audio and packet.is_keyframe:
                gops.append(Gop(session, stored.wall, stored.wall))
            if not gops:
                continue
            gops[-1].packets.append(stored)
            gops[-1].end = max(gops[-1].end, stored.wall)
            if t > end_s + 5.0:
                break  # audio running on past a video track that ended
        # Packets after end_s that only complete a B-frame group are kept; the rest were never read.
        return write_clip(gops, path)
    except (av.error.FFmpegError, OSError) as exc:
        raise ClipError(f"cannot cut a clip from {Path(source).name}: {exc}") from exc
    finally:
        container.close()


def _then_masked(path: Path, masks: tuple[Polygon, ...], write: Callable[[Path], ClipInfo]) -> ClipInfo:
    """``write`` a clip to a hidden name beside ``path``, then re-encode it masked to ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    remuxed = Path(tmp)
    try:
        info = write(remuxed)
        return mask_clip(remuxed, path, masks, info)
    finally:
        remuxed.unlink(missing_ok=True)


def mask_clip(source: Path, path: Path, masks: tuple[Polygon, ...], info: ClipInfo) -> ClipInfo:
    """Re-encode the clip at ``source`` into ``path`` with ``masks`` blacked out on every frame: H.264 (libx264,
    ``veryfast``, CRF 20, the source's frame timing), audio copied. A privacy mask must cover the clip too, and
    packets cannot be masked without decoding them: this is the one clip path that encodes."""
    try:
        src = av.open(str(source))
    except (av.error.FFmpegError, OSError) as exc:
        raise ClipError(f"cannot mask clip {path.name}: {exc}") from exc
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    os.chmod(tmp_name, 0o644)
    tmp = Path(tmp_name)
    try:
        with src, av.open(tmp_name, "w", format="mp4", options={"movflags": "+faststart"}) as out:
            video = src.streams.video[0]
            video.codec_context.thread_type = "AUTO"
            encoder: Any = out.add_stream("libx264", rate=video.average_rate or 30)
            encoder.width, encoder.height, encoder.pix_fmt = video.width, video.height, "yuv420p"
            encoder.time_base = video.time_base
            encoder.options = {"preset": "veryfast", "crf": "20"}
            audio_in = src.streams.audio[0] if src.streams.audio else None
            audio_out = out.add_stream_from_template(audio_in) if audio_in is not None else None
            streams = [video] if audio_in is None else [video, audio_in]
            for packet in src.demux(streams):
                if packet.stream is audio_in:
                    if packet.size and audio_out is not None:
                        packet.stream = audio_out
                        out.mux(packet)
                    continue
                frames: Any = packet.decode()  # video frames (the stubs type every kind)
                for frame in frames:
                    masked = _masked_frame(frame, masks)
                    masked.pts, masked.time_base = frame.pts, frame.time_base
                    out.mux(encoder.encode(masked))
            out.mux(encoder.encode(None))
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except (av.error.FFmpegError, OSError, IndexError) as exc:
        tmp.unlink(missing_ok=True)
        raise ClipError(f"cannot mask clip {path.name}: {exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dataclasses.replace(
        info, path=str(path), nbytes=path.stat().st_size, codec="h264",
        notes=[*info.notes, "re-encoded (H.264) with the camera's privacy masks"],
    )  # fmt: skip


def _masked_frame(frame: Any, masks: tuple[Polygon, ...]) -> Any:
    """``frame`` as YUV 4:2:0 with ``masks`` black (Y 16, U and V 128: black in the limited range cameras send),
    painted on the planes directly: no round trip through RGB."""
    if frame.format.name != "yuv420p":
        frame = frame.reformat(format="yuv420p")
    h, w = frame.height, frame.width
    if h % 2 or w % 2:  # odd sizes: no simple plane layout; through RGB
        rgb = apply_masks(frame.to_ndarray(format="rgb24"), masks)
        return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    planes: NDArray[np.uint8] = frame.to_ndarray()  # Y (h x w), then U and V (h/2 x w/2 each), stacked
    planes[:h][polygon_mask(masks, w, h)] = 16
    chroma = planes[h:].reshape(2, h // 2, w // 2)
    chroma[:, polygon_mask(masks, w // 2, h // 2)] = 128
    return av.VideoFrame.from_ndarray(planes, format="yuv420p")


@dataclass(frozen=True, slots=True)
class ClipFrame:
    """A frame decoded from a clip: its wall-clock time, small RGB pixels, and a JPEG for answering models."""

    wall: float
    image: NDArray[np.uint8]  # analysis size
    snapshot: bytes


def clip_frames(path: str, *, fps: float, start_wall: float, limit: int = 256, analysis_size: int = 224,
                snapshot_size: int = 640) -> list[ClipFrame]:  # fmt: skip
    """Frames of a clip at ``fps`` (denser than the 1 fps stills, so brief actions are seen), at most ``limit``
    of them spread over the clip. Blocking: decodes the whole clip once."""
    from .sampling import RateSampler
    from .source import _convert, _scaled_size

    try:
        with av.open(path) as container:
            video = container.streams.video[0]
            duration = float(container.duration / 1_000_000) if container.duration else 0.0
            rate = fps if duration * fps <= limit or duration <= 0 else limit / duration
            sampler = RateSampler(rate)
            out: list[ClipFrame] = []
            video.codec_context.thread_type = "AUTO"
            decoded: Any = container.decode(video)  # typed stubs return a union of array types; these are RGB24
            for frame in decoded:
                t = float(frame.time or 0.0)
                if not sampler.keep(t):
                    continue
                small = _scaled_size(frame.width, frame.height, analysis_size)
                big = _scaled_size(frame.width, frame.height, snapshot_size)
                # The reader's conversion, so a clip's frames look to a model as the live ones did.
                image, jpeg = _convert(frame, small, big)
                assert jpeg is not None  # a snapshot size was given
                out.append(ClipFrame(start_wall + t, image, jpeg))
                if len(out) >= limit:
                    break
            return out
    except (av.error.FFmpegError, OSError, IndexError) as exc:
        raise ClipError(f"cannot read clip {Path(path).name}: {exc}") from exc
