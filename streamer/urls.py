"""What kind of source a URL names (without opening it or loading FFmpeg)."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

__all__ = ["is_file_source"]


def is_file_source(url: str) -> bool:
    """True for a local path or ``file:`` URL (finite, seekable, replayable), False for network streams."""
    scheme = urlsplit(url).scheme.lower()
    return scheme in ("", "file") or (len(scheme) == 1 and os.name == "nt")
