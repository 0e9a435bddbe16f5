"""What the commands share: loading a config with overrides, and progress lines on stderr."""

from __future__ import annotations

import sys
from pathlib import Path

from ..config import FeedwatchConfig, read_config_file, validate_config

__all__ = ["load_with_memory", "progress"]


def load_with_memory(path: Path, memory: Path | None) -> FeedwatchConfig:
    """Read and validate ``path``; ``memory`` (``--memory``) overrides ``memory.path``."""
    data = read_config_file(path)
    if memory is not None:
        data.setdefault("memory", {})["path"] = str(memory)
    return validate_config(data, str(path))


def progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)
