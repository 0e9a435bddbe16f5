"""The ingest stage: each camera's reader feeding its rolling buffer, and the camera's figures."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from streamer.buffer import FrameBuffer
from streamer.frames import Frame
from streamer.packets import PacketRing
from streamer.policies import OverflowPolicy
from streamer.reader import CameraReader, CameraStatus, Outage
from streamer.redact import redact_text
from streamer.sampling import SampleRate
from streamer.source import SourceOptions

from ..alerting import CameraCounters
from ..config import BufferSettings, CameraConfig, ClipSettings
from .clips import keeps_packets
from .report import CameraReport

__all__ = ["Camera", "source_options"]


def source_options(cam: CameraConfig, analysis_size: int, rate: SampleRate | None = None) -> SourceOptions:
    """How a configured camera is opened, decoded and sampled for a scorer that wants ``analysis_size`` pixels;
    ``rate``, when given, is the live sampling rate (raised in bursts on motion)."""
    return SourceOptions(
        sample_fps=cam.fps,
        keyframes_only=cam.keyframes_only,
        analysis_size=analysis_size,
        realtime=cam.realtime,
        loop=cam.loop,
        rtsp_transport=cam.rtsp_transport,
        open_timeout_s=cam.open_timeout_s,
        read_timeout_s=cam.read_timeout_s,
        stall_s=cam.stall_s,
        masks=cam.mask_polygons(),
        rate=rate,
    )


class Camera:
    """One camera of the service: its reader (a decoding thread, started on entry) and its rolling buffer."""

    def __init__(
        self,
        config: CameraConfig,
        buffer: BufferSettings,
        *,
        analysis_size: int,
        retry: bool,
        on_status: Callable[[str, CameraStatus], None],
        on_outage: Callable[[Outage], None] | None = None,
        clips: ClipSettings | None = None,
        burst_fps: float = 0.0,
    ) -> None:
        self.id = config.id
        self.config = config
        self.ring: PacketRing | None = None  # the kept packets, for clips
        if clips is not None and keeps_packets(config, clips):
            self.ring = PacketRing(config.id, max_seconds=clips.keep_s, max_bytes=int(clips.keep_mb * 2**20))
        # A file paced at real time stands for a live camera: it drops rather than falls behind.
        policy = OverflowPolicy.DROP_OLDEST if config.realtime else None
        self.rate = SampleRate(config.fps, burst_fps)  # the scheduler's change gate raises it on motion
        self.reader = CameraReader(
            config.id, config.url, source_options(config, analysis_size, self.rate), retry=retry, policy=policy,
            on_status=on_status, on_outage=on_outage, ring=self.ring,
        )  # fmt: skip
        self.hook_runs = 0  # times the on_offline command ran (the service's hooks count here)
        self.buffer = FrameBuffer(
            config.id, max_seconds=buffer.seconds, max_bytes=int(buffer.max_mb * 2**20), policy=self.reader.policy
        )

    async def ingest(self, notify: Callable[[], None]) -> None:
        """Move frames from the reader into the buffer until the reader ends; ``notify`` the scheduler each time.

        Safe to call again after it failed: it goes on with the reader's next frame. Closing the buffer once the
        camera is done for good is the caller's (:meth:`end`)."""
        async for frame in self.reader.frames():
            await self.buffer.put(frame)
            notify()

    async def end(self, notify: Callable[[], None]) -> None:
        """No more frames will come: close the buffer, so the scheduler scores what is left and moves on."""
        await self.buffer.close()
        notify()

    def latest(self) -> Frame | None:
        newest = self.buffer.latest(1)
        return newest[0] if newest else None

    def report(self, counters: CameraCounters | None, alerts: int, open_alerts: int) -> CameraReport:
        """The camera's status and figures now (call on the loop)."""
        reader, buf = self.reader, self.buffer
        counters = counters or CameraCounters()
        newest = self.latest()
        return CameraReport(
            camera=self.id,
            status=reader.status.value,
            decoded=reader.stats.decoded,
            sampled=reader.stats.sampled,
            dropped=reader.stats.dropped + buf.stats.dropped_unscored,
            reconnects=reader.stats.reconnects,
            scored=counters.scored,
            skipped=counters.skipped,
            unscored=counters.unscored,
            alerts=alerts,
            max_lag_s=round(counters.max_lag_s, 3),
            lag_s=round(counters.lag_s, 3),
            lag_p95_s=round(float(np.percentile(counters.lags, 95)), 3) if counters.lags else 0.0,
            error=redact_text(reader.last_error) if reader.last_error else None,
            open_alerts=open_alerts,
            buffer_frames=len(buf),
            buffer_bytes=buf.nbytes,
            buffer_seconds=round(buf.seconds, 3),
            latest=newest.wall if newest else None,
            transport=reader.transport,
            offline_s=round(reader.offline_s, 3),
            outages=reader.stats.outages,
            last_outage=reader.outage.to_dict() if reader.outage else None,
            hook_runs=self.hook_runs,
            model_frames=counters.model_frames,
            held_frames=counters.held_frames,
        )
