"""The project's error hierarchy.

One root, :class:`FeedwatchError`, then one class per kind of failure. Each also subclasses the
builtin it resembles, so callers that only know Python's own exceptions still catch them.
Messages say what failed, where, and what to do about it.
"""

from __future__ import annotations

__all__ = [
    "ClipError",
    "ConfigError",
    "FeedwatchError",
    "MemoryStoreError",
    "ModelError",
    "PublishError",
    "SourceError",
    "SourceTimeoutError",
]


class FeedwatchError(Exception):
    """Root of every error feedwatch raises on purpose."""


class ConfigError(FeedwatchError, ValueError):
    """A configuration file or option is invalid."""


class SourceError(FeedwatchError, OSError):
    """A video source could not be opened or read. The message names the redacted source."""


class ClipError(SourceError):
    """A clip could not be written (nothing kept for the range, a packet the muxer refused, a full disk)."""


class SourceTimeoutError(SourceError, TimeoutError):
    """A video source did not answer in time (it may be down, or far away: a longer timeout may help)."""


class ModelError(FeedwatchError, RuntimeError):
    """A model backend could not be loaded or failed to run."""


class MemoryStoreError(FeedwatchError, OSError):
    """The moment memory could not be opened, read or written."""


class PublishError(FeedwatchError, ConnectionError):
    """An event could not be published (broker unreachable, refused, ...)."""
