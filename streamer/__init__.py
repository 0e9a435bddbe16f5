"""Pixels and transport: sources, sampling, the rolling buffer, and the MQTT and HTTP plumbing.

Names are imported on first use, so ``import streamer`` (and every package that imports it) loads neither
FFmpeg nor an MQTT client nor a web server until something needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy import lazy_exports

if TYPE_CHECKING:
    from .buffer import BufferStats as BufferStats
    from .buffer import FrameBuffer as FrameBuffer
    from .errors import ConfigError as ConfigError
    from .errors import FeedwatchError as FeedwatchError
    from .errors import MemoryStoreError as MemoryStoreError
    from .errors import ModelError as ModelError
    from .errors import PublishError as PublishError
    from .errors import SourceError as SourceError
    from .errors import SourceTimeoutError as SourceTimeoutError
    from .frames import Frame as Frame
    from .frames import Window as Window
    from .frames import encode_jpeg as encode_jpeg
    from .policies import Backoff as Backoff
    from .policies import OverflowPolicy as OverflowPolicy
    from .reader import CameraReader as CameraReader
    from .reader import CameraStatus as CameraStatus
    from .reader import Outage as Outage
    from .reader import ReaderStats as ReaderStats
    from .recovery import ReconnectPlan as ReconnectPlan
    from .redact import redact_text as redact_text
    from .redact import redact_url as redact_url
    from .sampling import RateSampler as RateSampler
    from .sampling import SampleRate as SampleRate
    from .source import FrameDecoder as FrameDecoder
    from .source import SourceOptions as SourceOptions
    from .source import open_container as open_container
    from .source import probe as probe
    from .urls import is_file_source as is_file_source

else:  # type checkers see the imports above; at run time each name loads on first use
    __all__, __getattr__ = lazy_exports(
        __name__,
        {
            "buffer": ("BufferStats", "FrameBuffer"),
            "errors": (
                "ConfigError",
                "FeedwatchError",
                "MemoryStoreError",
                "ModelError",
                "PublishError",
                "SourceError",
                "SourceTimeoutError",
            ),
            "frames": ("Frame", "Window", "encode_jpeg"),
            "policies": ("Backoff", "OverflowPolicy"),
            "reader": ("CameraReader", "CameraStatus", "Outage", "ReaderStats"),
            "recovery": ("ReconnectPlan",),
            "redact": ("redact_text", "redact_url"),
            "sampling": ("RateSampler", "SampleRate"),
            "source": ("FrameDecoder", "SourceOptions", "open_container", "probe"),
            "urls": ("is_file_source",),
        },
    )
