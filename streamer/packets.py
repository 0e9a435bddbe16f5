"""The compressed stream, kept: each camera's demuxed packets in a ring bounded by time and bytes.

The reader already holds every packet it demuxes; keeping a reference to its bytes costs no decoding, only
memory (about the camera's bit rate times the ring's length). The ring is a deque of GOPs, each starting with a
video keyframe, so whatever is left after eviction can always be decoded from its first packet. Audio packets
ride in the GOP they arrive in. A reconnect starts a new :class:`Session` (new codec parameters, a new clock);
a clip spanning two sessions has a gap, and says so.
"""

from __future__ import annotations

import io
import itertools
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import av

__all__ = ["Gop", "PacketRing", "RingStats", "Session", "StoredPacket"]

# Audio codecs an MP4 can carry and browsers play; others (G.711 from many cameras) are left out of clips.
MP4_AUDIO = frozenset({"aac", "mp3", "opus", "alac", "flac", "ac3", "eac3"})


class Session:
    """One reader session's stream parameters: codec templates to mux its packets with, and its time bases.

    The templates are streams of an output container that is never written: they hold a copy of the input's
    codec parameters (SPS/PPS, size, sample rate) after the input container has closed."""

    _ids = itertools.count(1)

    def __init__(self, video: Any, audio: Any | None) -> None:
        self.id = next(self._ids)
        self._holder = av.open(io.BytesIO(), "w", format="mp4")
        self.video = self._holder.add_stream_from_template(video)
        self.video_time_base: Fraction = video.time_base
        self.codec: str = video.codec_context.name
        self.width: int = video.codec_context.width
        self.height: int = video.codec_context.height
        rate = video.average_rate or video.guessed_rate
        self.fps: float | None = float(rate) if rate else None
        self.audio: Any | None = None
        self.audio_time_base: Fraction | None = None
        self.audio_codec: str | None = audio.codec_context.name if audio is not None else None
        if audio is not None and self.audio_codec in MP4_AUDIO:
            self.audio = self._holder.add_stream_from_template(audio)
            self.audio_time_base = audio.time_base


@dataclass(frozen=True, slots=True)
class StoredPacket:
    """A demuxed packet: its bytes, timestamps in its stream's time base, and the wall-clock time it shows."""

    wall: float
    pts: int | None
    dts: int | None
    duration: int
    keyframe: bool
    audio: bool
    data: bytes


@dataclass(slots=True)
class Gop:
    """Packets from one video keyframe to the next, of one session."""

    session: Session
    start: float  # wall time of the keyframe
    end: float  # wall time of the newest packet
    packets: list[StoredPacket] = field(default_factory=list)
    nbytes: int = 0


@dataclass(slots=True)
class RingStats:
    packets: int = 0  # packets kept so far
    evicted: int = 0  # GOPs dropped for time or size
    skipped: int = 0  # packets dropped because no keyframe had come yet in their session


class PacketRing:
    """One camera's packets, newest last, at most ``max_seconds`` and ``max_bytes``. Thread-safe."""

    def __init__(self, camera: str, *, max_seconds: float, max_bytes: int) -> None:
        self.camera = camera
        self.max_seconds = max_seconds
        self.max_bytes = max_bytes
        self.stats = RingStats()
        self.nbytes = 0
        self._gops: deque[Gop] = deque()
        self._session: Session | None = None
        self._lock = threading.Lock()
        self._closed = False

    def start(self, video: Any, audio: Any | None = None) -> Session:
        """A new session begins (called by the reader after it opens the source)."""
        session = Session(video, audio)
        with self._lock:
            self._session = session
        return session

    def add(self, packet: StoredPacket) -> None:
        """Keep one packet of the current session (called by the reader thread for every packet)."""
        with self._lock:
            session = self._session
            if session is None:
                return
            last = self._gops[-1] if self._gops else None
            if not packet.audio and packet.keyframe:
                last = Gop(session, packet.wall, packet.wall)
                self._gops.append(last)
            elif last is None or last.session is not session:
                self.stats.skipped += 1  # nothing to decode it from yet
                return
            last.packets.append(packet)
            last.end = max(last.end, packet.wall)
            last.nbytes += len(packet.data)
            self.nbytes += len(packet.data)
            self.stats.packets += 1
            self._evict(last.end)

    def _evict(self, newest: float) -> None:
        while len(self._gops) > 1 and (newest - self._gops[1].start > self.max_seconds or self.nbytes > self.max_bytes):
            self.nbytes -= self._gops.popleft().nbytes
            self.stats.evicted += 1

    def close(self) -> None:
        """No more packets will come (the camera stopped for good)."""
        with self._lock:
            self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def newest(self) -> float | None:
        """Wall time of the newest packet, or None when empty."""
        with self._lock:
            return self._gops[-1].end if self._gops else None

    @property
    def oldest(self) -> float | None:
        with self._lock:
            return self._gops[0].start if self._gops else None

    @property
    def seconds(self) -> float:
        with self._lock:
            return self._gops[-1].end - self._gops[0].start if self._gops else 0.0

    def cut(self, since: float, until: float) -> list[Gop]:
        """The GOPs covering ``[since, until]``: from the last keyframe at or before ``since`` (or the oldest
        kept), through the first packet at or after ``until``. The lists are copies; the packets are shared."""
        with self._lock:
            gops = list(self._gops)
        first = 0
        for i, gop in enumerate(gops):
            if gop.start <= since:
                first = i
        chosen = [g for g in gops[first:] if g.start <= until]
        return [Gop(g.session, g.start, g.end, list(_until(g.packets, until)), g.nbytes) for g in chosen]


def _until(packets: Iterable[StoredPacket], until: float) -> Iterable[StoredPacket]:
    for packet in packets:
        if packet.wall > until:
            return
        yield packet
