"""The memory's vectors: similarity search with filters, deletion, reopening, and crashes."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

import agents.memory.vectors
from agents.memory import Keyframe, Moment, MomentMemory
from agents.memory.vectors import VectorStore
from streamer import MemoryStoreError

DIM = 32


def _unit(rng: np.random.Generator, n: int) -> NDArray[np.float32]:
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    out: NDArray[np.float32] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def _moment(i: int, camera: str, query: str = "person") -> Moment:
    return Moment(f"m{i}", camera, 1000.0 + i, 1001.0 + i, float(i), i + 1.0, "embedding", True, 4.0,
                  {query: 4.0}, {query: query})  # fmt: skip


def _fill(mem: MomentMemory, vecs: NDArray[np.float32]) -> None:
    for i, v in enumerate(vecs):
        mem.add(_moment(i, f"cam{i % 3}", "car" if i % 5 == 0 else "person"), [Keyframe(1000.0 + i, float(i), None, v)])


def test_similarity_search_with_filters_delete_and_reopen(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vecs = _unit(rng, 300)
    with MomentMemory(tmp_path, dim=DIM) as mem:
        _fill(mem, vecs)
        assert mem.semantic_search
        best = mem.search_similar(vecs[42], k=3)
        assert best[0].moment.id == "m42" and best[0].similarity == pytest.approx(1.0, abs=1e-5)
        on_cam = mem.search_similar(vecs[42], k=5, camera="cam1")
        assert all(s.moment.camera == "cam1" for s in on_cam) and on_cam[0].moment.id != "m42"
        windowed = mem.search_similar(vecs[42], k=5, since=1100, until=1150)
        assert all(1100 <= s.keyframe_wall <= 1150 for s in windowed)
        cars = mem.search_similar(vecs[40], k=5, query_id="car")
        assert cars[0].moment.id == "m40" and all("car" in s.moment.queries for s in cars)
        assert mem.delete(["m42"]) == 1
        assert all(s.moment.id != "m42" for s in mem.search_similar(vecs[42], k=5))
    with MomentMemory(tmp_path) as again:  # the dimension is remembered
        assert again.count() == 299
        assert again.search_similar(vecs[7], k=1)[0].moment.id == "m7"
    with pytest.raises(MemoryStoreError, match="32-d embeddings"):
        MomentMemory(tmp_path, dim=64)


def test_without_embeddings_semantic_search_says_what_it_needs(tmp_path: Path) -> None:
    with MomentMemory(tmp_path) as mem:
        mem.add(_moment(1, "cam"), [Keyframe(1001.0, 1.0)])
        assert not mem.semantic_search
        with pytest.raises(MemoryStoreError, match="semantic search needs an embedding model"):
            mem.search_similar(np.ones(DIM, np.float32))
        assert [m.id for m in mem.search(camera="cam")] == ["m1"]


def _clustered(rng: np.random.Generator, n: int) -> NDArray[np.float32]:
    centres = _unit(rng, 20)
    v = centres[rng.integers(0, 20, n)] + 0.05 * rng.standard_normal((n, DIM)).astype(np.float32)
    out: NDArray[np.float32] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def test_stale_layout_is_replayed_and_torn_files_recovered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agents.memory.vectors, "EXACT_MAX", 500)
    vecs = _clustered(np.random.default_rng(1), 3200)
    store = VectorStore(tmp_path, DIM)
    store.add(np.arange(3000, dtype=np.int64), ["a"] * 3000, np.arange(3000, dtype=np.float64), vecs[:3000])
    assert store.index_kind == "ivf"
    store.checkpoint()
    saved = {name: (tmp_path / name).read_bytes() for name in ("ivf.faiss", "ivf_lists.i64")}
    store.add(np.arange(3000, 3200, dtype=np.int64), ["a"] * 200, np.arange(3000, 3200, dtype=np.float64), vecs[3000:])
    store.close()
    for name, data in saved.items():  # as if the process died before the last checkpoint
        (tmp_path / name).write_bytes(data)
    shard = next((tmp_path / "shards").glob("*.vec"))
    with open(shard, "ab") as fh:  # and in the middle of writing a record
        fh.write(b"\x01" * (store.record // 2))
    reopened = VectorStore(tmp_path, DIM)
    assert len(reopened) == 3200 and reopened._index.ntotal == 3200 and reopened.index_kind == "ivf"
    assert reopened.search(vecs[3150], 1)[0].id == 3150  # replayed
    assert reopened.search(vecs[10], 1)[0].id == 10  # filed back from the saved layout
    reopened.close()
    (tmp_path / "ivf.faiss").write_bytes(b"garbage")
    retrained = VectorStore(tmp_path, DIM)
    assert retrained.index_kind == "ivf" and retrained.search(vecs[20], 1)[0].id == 20
    retrained.close()


def test_large_memories_switch_to_an_approximate_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agents.memory.vectors, "EXACT_MAX", 500)
    vecs = _clustered(np.random.default_rng(2), 3000)
    store = VectorStore(tmp_path, DIM)
    store.add(np.arange(3000, dtype=np.int64), ["a"] * 3000, np.arange(3000, dtype=np.float64), vecs)
    assert store.index_kind == "ivf"
    recall = []
    for q in vecs[:50]:
        truth = {h.id for h in store.exact_search(q, 10)}
        recall.append(len(truth & {h.id for h in store.search(q, 10)}) / 10)
    assert np.mean(recall) >= 0.9
    store.close()
    assert VectorStore(tmp_path, DIM).index_kind == "ivf"


_WRITER = """
import sys, numpy as np
from agents.memory import Keyframe, Moment, MomentMemory
path, start = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(start)
mem = MomentMemory(path, dim=16)
i = start
while True:
    v = rng.standard_normal(16).astype(np.float32); v /= np.linalg.norm(v)
    mem.add(Moment(f"m{i}", "cam", float(i), i + 0.5, 0.0, 0.5, "embedding", True, 4.0, {"q": 4.0}, {"q": "q"}),
            [Keyframe(float(i), 0.0, None, v)])
    print(i, flush=True)
    i += 1
"""


@pytest.mark.slow
def test_kill_9_never_loses_a_returned_write(tmp_path: Path) -> None:
    confirmed: set[int] = set()
    start = 0
    rng = random.Random(3)
    for _round in range(8):
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(tmp_path), str(start)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=os.getcwd(),
        )
        assert proc.stdout is not None
        first = proc.stdout.readline()  # the writer is up and has confirmed a write, however slow the machine
        assert first, "the writer died before its first write"
        time.sleep(rng.uniform(0.1, 0.6))  # the fault: a kill at a random moment, between writes or in one
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        written = [int(line) for line in (first + out).split()]
        confirmed.update(written)
        start = (max(written) + 1 if written else start) + 1000
        with MomentMemory(tmp_path) as mem:  # reopening repairs what the kill tore
            ids = {int(m.id[1:]) for m in mem.iter_all()}
            assert confirmed <= ids, f"lost {sorted(confirmed - ids)[:5]}"
            vectors = mem.vectors
            assert vectors is not None and len(vectors) == len(ids)
    assert len(confirmed) >= 8  # every round confirmed writes before its kill
