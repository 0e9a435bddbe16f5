"""The memory as the rest of feedwatch sees it, and choosing where it lives.

Two backends answer the same calls: the embedded one (SQLite and FAISS in a folder, the default) and
PostgreSQL with pgvector (``memory.url``), which a fleet of nodes shares.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from .records import Feedback, Keyframe, Moment, SimilarMoment

__all__ = ["Memory", "open_memory"]


class Memory(Protocol):
    """What the service, the API, ``ask``, ``search`` and retention use of a memory."""

    path: Path  # this node's folder: snapshots and clips are written under it
    clips: Path
    read_only: bool
    where: str  # for messages: the folder, or the database URL without its password

    @property
    def semantic_search(self) -> bool: ...

    def close(self) -> None: ...
    def save_snapshot(self, name: str, jpeg: bytes) -> str: ...
    def add(self, moment: Moment, keyframes: Sequence[Keyframe] = ()) -> None: ...
    def set_feedback(self, mark: Feedback) -> None: ...
    def feedback(self, moment_ids: Sequence[str] | None = None) -> list[Feedback]: ...
    def delete(self, moment_ids: Sequence[str]) -> int: ...
    def cameras(self) -> list[str]: ...
    def count(self) -> int: ...
    def search(
        self, *, camera: str | None = None, since: float | None = None, until: float | None = None,
        query_id: str | None = None, min_score: float | None = None, kind: str | None = None, limit: int = 50,
        offset: int = 0, newest_first: bool = True,
    ) -> list[Moment]: ...  # fmt: skip
    def get(self, moment_id: str) -> Moment | None: ...
    def keyframe_times(self, moment_ids: Sequence[str]) -> dict[str, float]: ...
    def search_similar(
        self, vector: NDArray[np.float32], *, k: int = 10, camera: str | None = None, since: float | None = None,
        until: float | None = None, query_id: str | None = None, min_score: float | None = None,
    ) -> list[SimilarMoment]: ...  # fmt: skip
    def image(self, path: str) -> bytes | None: ...
    def expired(self, before: float) -> list[str]: ...
    def footprints(self) -> Iterator[tuple[str, int]]: ...
    def compact(self) -> None: ...
    def iter_all(self) -> Iterator[Moment]: ...
    def __enter__(self) -> Memory: ...
    def __exit__(self, *exc: object) -> None: ...


def open_memory(path: Path, url: str | None = None, *, read_only: bool = False, dim: int | None = None) -> Memory:
    """The memory in ``path`` (embedded), or in the PostgreSQL database at ``url`` with ``path`` as this node's
    folder for snapshots and clips."""
    if url:
        from .pg import PgMomentMemory

        return PgMomentMemory(url, path, read_only=read_only, dim=dim)
    from .store import MomentMemory

    return MomentMemory(path, read_only=read_only, dim=dim)
