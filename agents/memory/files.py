"""Writing files so that a crash leaves either the old content or the new, never a torn file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from streamer.errors import MemoryStoreError

__all__ = ["atomic_write", "file_size", "write_snapshot"]


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then rename it over ``path``.

    The temporary file has a name of its own, so writers racing on one path never trip over each other's
    (the last rename wins, whole)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        try:
            mode = os.stat(path).st_mode & 0o777
        except FileNotFoundError:
            mode = 0o644  # what open() would give under the usual umask; mkstemp's own is 0600
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_snapshot(folder: Path, name: str, jpeg: bytes) -> Path:
    """``folder/name.jpg``, written atomically; :class:`MemoryStoreError` when it cannot be."""
    target = folder / f"{name}.jpg"
    try:
        atomic_write(target, jpeg)
    except OSError as exc:
        raise MemoryStoreError(f"cannot write snapshot {target}: {exc.strerror or exc}") from exc
    return target


def file_size(path: str | None) -> int:
    """Bytes of the file at ``path``; 0 for none or one that is gone."""
    if not path:
        return 0
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0
