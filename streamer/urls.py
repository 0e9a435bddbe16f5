"""What kind of source a URL names, and whether it can be one at all (without opening it or loading FFmpeg)."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

__all__ = ["check_source_url", "is_file_source"]


def check_source_url(url: str) -> str:
    """``url`` if it can name a source; else :class:`ValueError` saying what is wrong with it.

    Catches what would otherwise fail deep inside the reader: control characters (a NUL ends the string FFmpeg
    sees) and URLs Python cannot split, such as an unclosed IPv6 bracket (``http://[::1/cam``)."""
    bad = next((c for c in url if ord(c) < 0x20 or c == "\x7f"), None)
    if bad is not None:
        raise ValueError(f"the source holds a control character ({bad!r}); remove it")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises for a port that is not a number or out of range)
    except ValueError as exc:
        raise ValueError(f"not a valid URL ({exc}); check the brackets and the port") from None
    return url


def is_file_source(url: str) -> bool:
    """True for a local path or ``file:`` URL (finite, seekable, replayable), False for network streams.

    A string that is not even a URL counts as a path: it is a file name, or it fails to open as one."""
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return True
    return scheme in ("", "file") or (len(scheme) == 1 and os.name == "nt")
