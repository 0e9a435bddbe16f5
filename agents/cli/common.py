"""What the commands share: loading a config with overrides, and progress lines on stderr."""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from ..config import FeedwatchConfig, default_memory_dir, read_config_file, validate_config
from ..memory.backend import Memory

__all__ = ["load_with_memory", "open_memory_read_only", "progress", "refusal", "service_request"]


def load_with_memory(path: Path, memory: Path | None) -> FeedwatchConfig:
    """Read and validate ``path``; ``memory`` (``--memory``) overrides ``memory.path``."""
    data = read_config_file(path)
    if memory is not None:
        data.setdefault("memory", {})["path"] = str(memory)
    return validate_config(data, str(path))


def open_memory_read_only(memory: Path | None, config: FeedwatchConfig | None) -> Memory:
    """The memory a command reads: the config's (its folder, or its database with ``memory.url``), with ``--memory``
    naming the folder; the default folder without either."""
    from ..memory.backend import open_memory

    path = memory or (config.memory.path if config is not None else default_memory_dir())
    return open_memory(path, config.memory.url if config is not None else None, read_only=True)


def progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def service_request(
    config: FeedwatchConfig, path: str, *, body: dict[str, Any] | None = None, method: str | None = None
) -> urllib.request.Request:
    """A request to the running service's HTTP API at ``path`` (with its token, from ``http.token_env``)."""
    from streamer.transport.http import is_wildcard  # with the server it sits beside: not for every command

    host = "127.0.0.1" if is_wildcard(config.http.host) else config.http.host
    headers = {"Content-Type": "application/json"} if body is not None else {}
    token = os.environ.get(config.http.token_env)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    return urllib.request.Request(f"http://{host}:{config.http.port}{path}", data=data, headers=headers, method=method)


def refusal(exc: urllib.error.HTTPError) -> str:
    """What the service said when it refused a request: its ``detail``, else the HTTP reason."""
    try:
        detail = json.loads(exc.read()).get("detail", exc.reason)
    except (ValueError, AttributeError):
        detail = exc.reason
    return detail if isinstance(detail, str) else json.dumps(detail)
