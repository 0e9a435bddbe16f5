"""The vector half of the moment memory: per-camera shards for filtered search, one FAISS index for the rest.

Every keyframe embedding is an L2-normalised float32 vector with a stable int64 id. Two structures
hold them:

- Per-camera shards, in memory and sorted by time, backed by an append-only file of fixed-size records
  (id, time, vector). A search filtered by camera and time range is an exact matrix-vector product over
  one contiguous slice: no scan of anything else, perfect recall.
- One FAISS index over everything, for unfiltered or broadly filtered search: exact (``IndexFlatIP`` in
  an ``IndexIDMap2``) while small, an inverted-file index (``IndexIVFFlat``, inner product) once large.
  Its trained layout is saved at checkpoints; on open, the shard vectors are filed back into their lists,
  vectors newer than the checkpoint are replayed into it, and a missing or unreadable layout is retrained.

Durability: a record is written and fsynced before ``add`` returns; a torn last record (a crash in the
middle of a write) is cut off on open. Deletions are tombstones, applied on open; :meth:`VectorStore.compact`
(run by retention) rewrites the shard files without them and forgets the tombstones.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from numpy.typing import NDArray

from streamer.errors import MemoryStoreError

from .files import atomic_write
from .shards import Directory, Shard

__all__ = ["Hit", "VectorStore"]

log = logging.getLogger(__name__)

_HEADER = 16  # int64 id + float64 time
EXACT_MAX = 50_000  # below this many vectors the global index is exact
BRUTE_MAX = 200_000  # a filtered slice up to this size is searched exactly


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result: a vector id, its camera and time, and its cosine similarity to the query."""

    id: int
    camera: str
    wall: float
    score: float


class VectorStore:
    """Embeddings of keyframes, searchable by similarity with camera and time filters. Thread-safe."""

    def __init__(self, path: str | Path, dim: int, *, nprobe: int = 24) -> None:
        self.path = Path(path)
        self.dim = dim
        self.nprobe = nprobe
        self.record = _HEADER + 4 * dim
        self._lock = threading.RLock()
        self._shards: dict[str, Shard] = {}
        self._files: dict[str, Any] = {}
        self._deleted: set[int] = set()
        self._directory = Directory()
        self._index: Any = None
        self._indexed_max = -1
        self._dirty = 0
        self._fresh_training = False
        self._high_water = -1  # the largest id ever deleted and compacted away, so ids are not given twice
        try:
            (self.path / "shards").mkdir(parents=True, exist_ok=True)
            self._check_dim()
            self._load()
        except OSError as exc:
            raise MemoryStoreError(f"cannot open the vector store at {self.path}: {exc.strerror or exc}") from exc

    # -- opening ------------------------------------------------------------------------------

    def _check_dim(self) -> None:
        meta = self.path / "vectors.json"
        if meta.is_file():
            saved = json.loads(meta.read_text())
            if saved.get("dim") != self.dim:
                raise MemoryStoreError(
                    f"the memory at {self.path.parent} holds {saved.get('dim')}-d embeddings, but the embedding "
                    f"model gives {self.dim}-d; use another --memory folder for another model"
                )
        else:
            atomic_write(meta, json.dumps({"dim": self.dim, "version": 1}).encode())

    def _load(self) -> None:
        tomb = self.path / "deleted.i64"
        if tomb.is_file():
            raw = tomb.read_bytes()
            self._deleted = set(np.frombuffer(raw[: len(raw) // 8 * 8], np.int64).tolist())
        gone = np.fromiter(self._deleted, np.int64, len(self._deleted))
        for file in sorted((self.path / "shards").glob("*.vec")):
            camera = bytes.fromhex(file.stem).decode()
            size = file.stat().st_size
            whole = size // self.record * self.record
            if whole != size:
                log.warning("vector shard %s: cutting a torn record (%d bytes)", file.name, size - whole)
                with open(file, "r+b") as fh:
                    fh.truncate(whole)
            rec = np.fromfile(file, dtype=self._dtype(), count=whole // self.record)
            if len(gone):
                rec = rec[~np.isin(rec["id"], gone)]
            # One copy per field into contiguous arrays: the file is read once, nothing is copied twice.
            ids = np.ascontiguousarray(rec["id"])
            walls = np.ascontiguousarray(rec["wall"])
            vecs = np.ascontiguousarray(rec["vec"])
            del rec
            self._shard(camera).load(ids, walls, vecs)
            self._directory.add(ids, camera, walls)
        self._open_index()

    def _dtype(self) -> np.dtype[Any]:
        return np.dtype([("id", "<i8"), ("wall", "<f8"), ("vec", "<f4", (self.dim,))])

    def _shard(self, camera: str) -> Shard:
        shard = self._shards.get(camera)
        if shard is None:
            shard = self._shards[camera] = Shard(camera, self.dim, vecs=np.empty((0, self.dim), np.float32))
        return shard

    def _open_index(self) -> None:
        """Rebuild the global index in memory from the shards, without retraining when possible.

        A large memory keeps its trained IVF layout (``ivf.faiss``: centroids only, a few MB) and every
        vector's list number (``ivf_lists.i64``) at checkpoints; opening re-files the shard vectors into
        their lists, which is a copy, not a search. Vectors newer than the checkpoint are assigned by
        the quantizer (the replay). Anything missing or unreadable: retrain from the shards.
        """
        total = len(self)
        template, lists = self.path / "ivf.faiss", self.path / "ivf_lists.i64"
        if total > 2 * EXACT_MAX and template.is_file() and lists.is_file():
            try:
                index = faiss.read_index(str(template))
                if not isinstance(index, faiss.IndexIVF) or index.d != self.dim or index.ntotal != 0:
                    raise ValueError("not an empty IVF index of the right size")
                pairs = np.fromfile(lists, dtype=np.int64).reshape(-1, 2)
                order = np.argsort(pairs[:, 0], kind="stable")
                known_ids, known_lists = pairs[order, 0], pairs[order, 1]
                self._index, self._indexed_max = index, -1
                replayed = 0
                for shard in self._shards.values():
                    ids, vecs = shard.ids[: shard.n], shard.vecs[: shard.n]
                    pos = np.minimum(np.searchsorted(known_ids, ids), max(0, len(known_ids) - 1))
                    hit = known_ids[pos] == ids if len(known_ids) else np.zeros(len(ids), bool)
                    assign = np.where(hit, known_lists[pos] if len(known_ids) else 0, -1)
                    if (~hit).any():
                        _, found = index.quantizer.search(np.ascontiguousarray(vecs[~hit]), 1)
                        assign[~hit] = found[:, 0]
                        replayed += int((~hit).sum())
                    # File vectors into known lists (FAISS's add_core with precomputed assignments). The
                    # arrays stay referenced here while the raw pointers are in use.
                    ids_c, vecs_c, lists_c = ids.copy(), np.ascontiguousarray(vecs), assign.astype(np.int64)
                    index.add_core(len(ids_c), faiss.swig_ptr(vecs_c), faiss.swig_ptr(ids_c), faiss.swig_ptr(lists_c))
                    del ids_c, vecs_c, lists_c
                    if len(ids):
                        self._indexed_max = max(self._indexed_max, int(ids.max()))
                if replayed:
                    log.info("vector index: replayed %d vector(s) added after the last checkpoint", replayed)
                    self._dirty = replayed
                if self._index.ntotal == total:
                    return
                log.warning("vector index holds %d vectors, shards %d: retraining", self._index.ntotal, total)
            except (RuntimeError, ValueError, OSError) as exc:
                log.warning("vector index layout at %s is unreadable (%s): retraining", template, exc)
        self.rebuild()

    def _newer_than(self, max_id: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        ids, vecs = [], []
        for shard in self._shards.values():
            mask = shard.ids[: shard.n] > max_id
            if mask.any():
                ids.append(shard.ids[: shard.n][mask])
                vecs.append(shard.vecs[: shard.n][mask])
        if not ids:
            return np.empty(0, np.int64), np.empty((0, self.dim), np.float32)
        return np.concatenate(ids), np.concatenate(vecs)

    def rebuild(self) -> None:
        """Build the global index from the shards: exact while small, IVF once large."""
        with self._lock:
            ids, vecs = self._newer_than(-1)
            total = len(ids)
            if total <= EXACT_MAX:
                index: Any = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
            else:
                nlist = int(min(16384, max(64, np.sqrt(total))))
                quantizer = faiss.IndexFlatIP(self.dim)
                index = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
                rng = np.random.default_rng(0)
                sample = vecs[rng.choice(total, size=min(total, 40 * nlist), replace=False)]
                t0 = time.perf_counter()
                index.train(sample)
                log.info("vector index: trained IVF with %d lists in %.1f s", nlist, time.perf_counter() - t0)
            self._index = index
            self._indexed_max = -1
            self._fresh_training = isinstance(index, faiss.IndexIVF)
            if total:
                self._index_add(ids, vecs)
            self._dirty = total

    def _index_add(self, ids: NDArray[np.int64], vecs: NDArray[np.float32]) -> None:
        self._index.add_with_ids(np.ascontiguousarray(vecs), np.ascontiguousarray(ids))
        self._indexed_max = max(self._indexed_max, int(ids.max()))
        if isinstance(self._index, faiss.IndexIDMap2) and self._index.ntotal > 2 * EXACT_MAX:
            self.rebuild()  # outgrew exact search
        elif isinstance(self._index, faiss.IndexIVF) and self._index.nlist < np.sqrt(self._index.ntotal) / 2:
            self.rebuild()  # lists grew long: retrain with more of them (about sqrt(n))

    # -- writing ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return sum(s.n for s in self._shards.values())

    def ids(self) -> list[int]:
        """Every stored id."""
        with self._lock:
            return [int(i) for i in self._directory.ids[: self._directory.n]]

    def max_id(self) -> int:
        """The largest id ever stored (deleted ones included), -1 when empty."""
        with self._lock:
            top = int(self._directory.ids[self._directory.n - 1]) if self._directory.n else -1
            return max(top, max(self._deleted, default=-1), self._indexed_max, self._high_water)

    @property
    def index_kind(self) -> str:
        return "ivf" if isinstance(self._index, faiss.IndexIVF) else "exact"

    def add(
        self, ids: NDArray[np.int64], cameras: list[str], walls: NDArray[np.float64], vecs: NDArray[np.float32]
    ) -> None:
        """Append vectors; durable (written and fsynced) when this returns."""
        vecs = np.ascontiguousarray(vecs, dtype=np.float32)
        if vecs.ndim != 2 or vecs.shape[1] != self.dim:
            raise ValueError(f"expected vectors of {self.dim} dims, got shape {vecs.shape}")
        with self._lock:
            by_camera: dict[str, list[int]] = {}
            for i, cam in enumerate(cameras):
                by_camera.setdefault(cam, []).append(i)
            for cam, rows in by_camera.items():
                rec = np.empty(len(rows), dtype=self._dtype())
                rec["id"], rec["wall"], rec["vec"] = ids[rows], walls[rows], vecs[rows]
                fh = self._file(cam)
                fh.write(rec.tobytes())
                fh.flush()
                os.fsync(fh.fileno())
                self._shard(cam).append(rec["id"].copy(), rec["wall"].copy(), rec["vec"].copy())
                self._directory.add(rec["id"].copy(), cam, rec["wall"].copy())
            self._index_add(ids.astype(np.int64), vecs)
            self._dirty += len(ids)

    def _shard_path(self, camera: str) -> Path:
        return self.path / "shards" / f"{camera.encode().hex()}.vec"

    def _file(self, camera: str) -> Any:
        fh = self._files.get(camera)
        if fh is None:
            fh = self._files[camera] = open(self._shard_path(camera), "ab")  # noqa: SIM115
        return fh

    def compact(self) -> int:
        """Rewrite the shard files without deleted records, then forget the tombstones; the bytes freed.

        Each shard is replaced atomically, and the tombstones are cleared only after every shard: a crash
        in between leaves tombstones for records that are gone, which is harmless. The index layout is saved
        again so the list of each vector matches the files.
        """
        with self._lock:
            if not self._deleted:
                return 0
            freed = 0
            for camera, shard in self._shards.items():
                path = self._shard_path(camera)
                fh = self._files.pop(camera, None)
                if fh is not None:
                    fh.close()
                before = path.stat().st_size if path.is_file() else 0
                rec = np.empty(shard.n, dtype=self._dtype())
                rec["id"], rec["wall"], rec["vec"] = shard.ids[: shard.n], shard.walls[: shard.n], shard.vecs[: shard.n]
                atomic_write(path, rec.tobytes())
                freed += before - path.stat().st_size
            self._high_water = max(self._high_water, max(self._deleted))
            atomic_write(self.path / "deleted.i64", b"")
            self._deleted.clear()
            self._dirty = max(1, self._dirty)
            self.checkpoint()
            log.info("vector shards compacted: %.1f MiB freed", freed / 2**20)
            return freed

    def delete(self, ids: list[int]) -> int:
        """Forget vectors by id (tombstoned on disk, removed from memory and the index)."""
        doomed = {int(i) for i in ids} - self._deleted
        if not doomed:
            return 0
        with self._lock:
            with open(self.path / "deleted.i64", "ab") as fh:
                fh.write(np.fromiter(doomed, np.int64, len(doomed)).tobytes())
                fh.flush()
                os.fsync(fh.fileno())
            self._deleted |= doomed
            removed = sum(shard.remove(doomed) for shard in self._shards.values())
            gone = np.fromiter(doomed, np.int64, len(doomed))
            self._directory.remove(gone)
            self._index.remove_ids(gone)
            self._dirty += len(doomed)
            return removed

    def checkpoint(self) -> None:
        """Save what lets the next open skip retraining: the IVF centroids and each vector's list."""
        with self._lock:
            if self._dirty == 0 or not isinstance(self._index, faiss.IndexIVF):
                self._dirty = 0
                return
            invlists: Any = self._index.invlists
            parts = []
            for lst in range(self._index.nlist):
                size = invlists.list_size(lst)
                if size:
                    ids = faiss.rev_swig_ptr(invlists.get_ids(lst), size).copy()
                    parts.append(np.stack([ids, np.full(size, lst, np.int64)], axis=1))
            pairs = np.concatenate(parts) if parts else np.empty((0, 2), np.int64)
            atomic_write(self.path / "ivf_lists.i64", pairs.astype(np.int64).tobytes())
            if not (self.path / "ivf.faiss").is_file() or self._fresh_training:
                empty = faiss.clone_index(self._index.quantizer)
                template = faiss.IndexIVFFlat(empty, self.dim, self._index.nlist, faiss.METRIC_INNER_PRODUCT)
                template.is_trained = True
                tmp = self.path / "ivf.faiss.tmp"
                faiss.write_index(template, str(tmp))
                with open(tmp, "rb") as fh:
                    os.fsync(fh.fileno())
                os.replace(tmp, self.path / "ivf.faiss")
                self._fresh_training = False
            self._dirty = 0

    def close(self) -> None:
        with self._lock:
            self.checkpoint()
            for fh in self._files.values():
                fh.close()
            self._files.clear()

    # -- searching ----------------------------------------------------------------------------

    def search(
        self,
        query: NDArray[np.float32],
        k: int = 10,
        *,
        camera: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[Hit]:
        """The ``k`` nearest vectors by cosine similarity, within the filters given."""
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(-1)
        with self._lock:
            shards = [self._shards[camera]] if camera is not None and camera in self._shards else []
            if camera is None:
                shards = list(self._shards.values())
            spans = [(s, *s.span(since, until)) for s in shards]
            candidates = sum(hi - lo for _, lo, hi in spans)
            if candidates == 0:
                return []
            filtered = camera is not None or since is not None or until is not None
            if filtered and candidates <= BRUTE_MAX:
                return self._exact(q, k, spans)
            return self._ann(q, k, camera, since, until)

    def _exact(self, q: NDArray[np.float32], k: int, spans: list[tuple[Shard, int, int]]) -> list[Hit]:
        best: list[Hit] = []
        for shard, lo, hi in spans:
            if hi <= lo:
                continue
            sims = shard.vecs[lo:hi] @ q
            top = np.argpartition(-sims, k - 1)[:k] if len(sims) > k else np.arange(len(sims))
            best += [Hit(int(shard.ids[lo + i]), shard.camera, float(shard.walls[lo + i]), float(sims[i])) for i in top]
        best.sort(key=lambda h: h.score, reverse=True)
        return best[:k]

    def _ann(
        self, q: NDArray[np.float32], k: int, camera: str | None, since: float | None, until: float | None
    ) -> list[Hit]:
        filtered = camera is not None or since is not None or until is not None
        # A broad filter: over-fetch from the global index, then keep what passes.
        fetch = k * 8 if filtered else k
        if isinstance(self._index, faiss.IndexIVF):
            self._index.nprobe = self.nprobe
        sims, ids = self._index.search(q.reshape(1, -1), min(fetch, max(1, self._index.ntotal)))
        where = self._directory.locate(ids[0][ids[0] >= 0])
        hits = []
        for sim, vid in zip(sims[0], ids[0], strict=True):
            if vid < 0 or int(vid) not in where:
                continue
            cam, wall = where[int(vid)]
            if camera is not None and cam != camera:
                continue
            if (since is not None and wall < since) or (until is not None and wall > until):
                continue
            hits.append(Hit(int(vid), cam, wall, float(sim)))
            if len(hits) == k:
                break
        return hits

    def exact_search(
        self, query: NDArray[np.float32], k: int = 10, *, camera: str | None = None,
        since: float | None = None, until: float | None = None,
    ) -> list[Hit]:  # fmt: skip
        """Brute force over everything within the filters: the reference for recall."""
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(-1)
        with self._lock:
            shards = list(self._shards.values()) if camera is None else [self._shards[camera]]
            return self._exact(q, k, [(s, *s.span(since, until)) for s in shards])
