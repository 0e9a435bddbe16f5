"""In-memory layout of the stored vectors: per-camera shards sorted by time, and a directory of ids."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

__all__ = ["Directory", "Shard"]


@dataclass(slots=True)
class Shard:
    """One camera's vectors with their ids and times, kept sorted by time (the arrays grow by doubling)."""

    camera: str
    dim: int
    ids: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))
    walls: NDArray[np.float64] = field(default_factory=lambda: np.empty(0, np.float64))
    vecs: NDArray[np.float32] = field(default_factory=lambda: np.empty((0, 0), np.float32))
    n: int = 0

    def reserve(self, extra: int) -> None:
        need = self.n + extra
        if need <= len(self.ids):
            return
        cap = max(need, 2 * len(self.ids), 1024)
        ids = np.empty(cap, np.int64)
        walls = np.empty(cap, np.float64)
        vecs = np.empty((cap, self.dim), np.float32)
        ids[: self.n], walls[: self.n], vecs[: self.n] = self.ids[: self.n], self.walls[: self.n], self.vecs[: self.n]
        self.ids, self.walls, self.vecs = ids, walls, vecs

    def load(self, ids: NDArray[np.int64], walls: NDArray[np.float64], vecs: NDArray[np.float32]) -> None:
        """Take over freshly read arrays as the whole shard (no copy)."""
        self.ids, self.walls, self.vecs, self.n = ids, walls, vecs, len(ids)
        if self.n > 1 and np.any(np.diff(walls) < 0):
            self.sort()

    def append(self, ids: NDArray[np.int64], walls: NDArray[np.float64], vecs: NDArray[np.float32]) -> None:
        self.reserve(len(ids))
        in_order = self.n == 0 or walls[0] >= self.walls[self.n - 1]
        end = self.n + len(ids)
        self.ids[self.n : end], self.walls[self.n : end], self.vecs[self.n : end] = ids, walls, vecs
        self.n = end
        if not in_order or np.any(np.diff(walls) < 0):
            self.sort()

    def sort(self) -> None:
        order = np.argsort(self.walls[: self.n], kind="stable")
        self.ids[: self.n] = self.ids[: self.n][order]
        self.walls[: self.n] = self.walls[: self.n][order]
        self.vecs[: self.n] = self.vecs[: self.n][order]

    def span(self, since: float | None, until: float | None) -> tuple[int, int]:
        walls = self.walls[: self.n]
        lo = 0 if since is None else int(np.searchsorted(walls, since, side="left"))
        hi = self.n if until is None else int(np.searchsorted(walls, until, side="right"))
        return lo, max(lo, hi)

    def remove(self, doomed: set[int]) -> int:
        keep = ~np.isin(self.ids[: self.n], np.fromiter(doomed, np.int64, len(doomed)))
        removed = int(self.n - keep.sum())
        if removed:
            self.ids = self.ids[: self.n][keep].copy()
            self.walls = self.walls[: self.n][keep].copy()
            self.vecs = self.vecs[: self.n][keep].copy()
            self.n = len(self.ids)
        return removed


class Directory:
    """Where each id lives: sorted ids with their camera number and time, for O(log n) lookups."""

    def __init__(self) -> None:
        self.ids = np.empty(0, np.int64)
        self.cams = np.empty(0, np.int32)
        self.walls = np.empty(0, np.float64)
        self.n = 0
        self.names: list[str] = []
        self._numbers: dict[str, int] = {}

    def number(self, camera: str) -> int:
        num = self._numbers.get(camera)
        if num is None:
            num = self._numbers[camera] = len(self.names)
            self.names.append(camera)
        return num

    def add(self, ids: NDArray[np.int64], camera: str, walls: NDArray[np.float64]) -> None:
        need = self.n + len(ids)
        if need > len(self.ids):
            cap = max(need, 2 * len(self.ids), 1024)
            self.ids = np.resize(self.ids, cap)
            self.cams = np.resize(self.cams, cap)
            self.walls = np.resize(self.walls, cap)
        end = self.n + len(ids)
        self.ids[self.n : end], self.cams[self.n : end], self.walls[self.n : end] = ids, self.number(camera), walls
        unsorted = self.n and ids.min() < self.ids[self.n - 1]
        self.n = end
        if unsorted or np.any(np.diff(ids) < 0):
            order = np.argsort(self.ids[: self.n], kind="stable")
            self.ids[: self.n], self.cams[: self.n] = self.ids[: self.n][order], self.cams[: self.n][order]
            self.walls[: self.n] = self.walls[: self.n][order]

    def remove(self, doomed: NDArray[np.int64]) -> None:
        keep = ~np.isin(self.ids[: self.n], doomed)
        self.ids, self.cams, self.walls = (
            self.ids[: self.n][keep],
            self.cams[: self.n][keep],
            self.walls[: self.n][keep],
        )
        self.n = len(self.ids)

    def locate(self, ids: NDArray[np.int64]) -> dict[int, tuple[str, float]]:
        pos = np.searchsorted(self.ids[: self.n], ids)
        found: dict[int, tuple[str, float]] = {}
        for vid, p in zip(ids.tolist(), pos.tolist(), strict=True):
            if p < self.n and self.ids[p] == vid:
                found[vid] = (self.names[int(self.cams[p])], float(self.walls[p]))
        return found
