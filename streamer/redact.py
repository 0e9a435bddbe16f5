"""Credential redaction for stream URLs: the one helper every log line and message goes through."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["redact_text", "redact_url"]

_MASK = "***"
# Query parameters that commonly carry secrets in camera URLs.
_SECRET_PARAMS = frozenset({"password", "pass", "pwd", "passwd", "token", "access_token", "auth", "key", "apikey"})
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")


def redact_url(url: str) -> str:
    """Return ``url`` with the password and secret query parameters masked.

    The user name stays (it helps debugging); the password and values of parameters such as
    ``password=`` or ``token=`` become ``***``. Paths that are not URLs come back unchanged.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    if not parts.scheme or not parts.netloc:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        netloc = f"{_mask_userinfo(userinfo)}@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(k.lower() in _SECRET_PARAMS for k, _ in pairs):
            query = urlencode([(k, _MASK if k.lower() in _SECRET_PARAMS else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str) -> str:
    """Mask credentials in every URL embedded in free text (error messages from FFmpeg, say)."""

    return _USERINFO.sub(lambda m: f"{m.group('scheme')}{_mask_userinfo(m.group('userinfo'))}@", text)


def _mask_userinfo(userinfo: str) -> str:
    """``user:secret`` becomes ``user:***``; a lone token (``TOKEN@host``) becomes ``***``."""
    user, sep, _ = userinfo.partition(":")
    return f"{user}:{_MASK}" if sep and user else _MASK
