from __future__ import annotations

import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from agents.memory import Keyframe, Moment, MomentMemory, atomic_write, disk_usage, prune
from agents.memory.records import Feedback
from streamer import MemoryStoreError


def _moment(i: int, camera: str = "cam", query: str = "person", peak: float = 4.0, thumb: str | None = None) -> Moment:
    return Moment(
        id=f"m{i}",
        camera=camera,
        start_wall=1000.0 + 10 * i,
        end_wall=1005.0 + 10 * i,
        start_pts=10.0 * i,
        end_pts=10.0 * i + 5,
        backend="activity",
        semantic=False,
        peak=peak,
        queries={query: peak},
        query_texts={query: f"text of {query}"},
        thumbnail=thumb,
    )


def test_add_search_filter_and_reopen(tmp_path: Path) -> None:
    with MomentMemory(tmp_path) as mem:
        for i in range(10):
            mem.add(_moment(i, camera="a" if i % 2 else "b", query="car" if i >= 8 else "person", peak=1 + i * 0.4))
        assert mem.count() == 10
        assert [m.id for m in mem.search(camera="a", newest_first=False)] == ["m1", "m3", "m5", "m7", "m9"]
        assert [m.id for m in mem.search(since=1032, until=1050, newest_first=False)] == ["m3", "m4", "m5"]
        assert [m.id for m in mem.search(query_id="car")] == ["m9", "m8"]
        assert [m.id for m in mem.search(min_score=4.0, newest_first=False)] == ["m8", "m9"]
        assert mem.search(camera="a", query_id="car")[0].queries == {"car": pytest.approx(4.6)}
    with MomentMemory(tmp_path, read_only=True) as again:
        assert again.count() == 10
        assert again.search(limit=1)[0].query_texts == {"car": "text of car"}


def test_replacing_a_moment_keeps_one_copy(tmp_path: Path) -> None:
    with MomentMemory(tmp_path) as mem:
        mem.add(_moment(1, peak=3.0))
        mem.add(_moment(1, peak=5.0))
        assert mem.count() == 1
        assert mem.search()[0].peak == 5.0


def test_retention_by_age_and_size_evicts_oldest_with_thumbnails(tmp_path: Path) -> None:
    with MomentMemory(tmp_path) as mem:
        thumbs = [mem.save_snapshot(f"m{i}", b"\xff\xd8" + bytes(50_000)) for i in range(6)]
        for i in range(6):
            mem.add(_moment(i, thumb=thumbs[i]))
        assert prune(mem, max_age_s=100, max_bytes=10**9, now=1000 + 100 + 21) == 2  # m0, m1 ended > 100 s ago
        assert not Path(thumbs[0]).exists() and Path(thumbs[2]).exists()
        assert prune(mem, max_age_s=1e9, max_bytes=disk_usage(mem).moments - 2 * 50_000, now=0) == 2
        assert [m.id for m in mem.search(newest_first=False)] == ["m4", "m5"]
        assert not Path(thumbs[3]).exists()


def test_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(MemoryStoreError, match="no memory at"):
        MomentMemory(tmp_path / "none", read_only=True)
    with MomentMemory(tmp_path / "old"):
        pass
    db = sqlite3.connect(tmp_path / "old" / "moments.sqlite")
    db.execute("PRAGMA user_version=99")
    db.close()
    with pytest.raises(MemoryStoreError, match="schema version 99"):
        MomentMemory(tmp_path / "old")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(MemoryStoreError, match="cannot create the memory"):
        MomentMemory(blocker / "mem")


def test_a_schema_4_memory_is_upgraded_and_keeps_its_moments(tmp_path: Path) -> None:
    with MomentMemory(tmp_path) as mem:
        mem.add(Moment("m1", "lobby", 10.0, 12.0, 0.0, 2.0, "activity", False, 4.0, {"person": 4.0}))
    db = sqlite3.connect(tmp_path / "moments.sqlite")
    db.executescript("DROP TABLE feedback; PRAGMA user_version=4;")  # as version 4 left it
    db.close()
    with MomentMemory(tmp_path) as mem:
        assert [m.id for m in mem.search()] == ["m1"]
        mem.set_feedback(Feedback("m1", "person", False, 20.0, np.ones(4, np.float32)))
        (mark,) = mem.feedback()
        assert (mark.moment_id, mark.query_id, mark.match) == ("m1", "person", False)
        assert mark.vector is not None and mark.vector.tolist() == [1.0] * 4
    db = sqlite3.connect(tmp_path / "moments.sqlite")
    assert db.execute("PRAGMA user_version").fetchone()[0] == 5
    db.close()


def test_size_retention_counts_only_what_it_can_free(tmp_path: Path) -> None:
    """An outbox or cited frames the memory cannot evict never make retention forget moments to no avail."""
    with MomentMemory(tmp_path) as mem:
        for i in range(4):
            mem.add(_moment(i, thumb=mem.save_snapshot(f"m{i}", b"\xff\xd8" + bytes(20_000))))
        moments = disk_usage(mem).moments
        (tmp_path / "mqtt-outbox.sqlite").write_bytes(bytes(3_000_000))  # waiting for a broker that is away
        (tmp_path / "asked").mkdir()
        (tmp_path / "asked" / "cam-1.jpg").write_bytes(bytes(500_000))
        usage = disk_usage(mem)
        assert usage.moments == moments
        assert usage.other["MQTT outbox"] == 3_000_000 and usage.other["frames cited by answers"] == 500_000
        assert prune(mem, max_age_s=1e9, max_bytes=moments + 1000, now=0) == 0  # the moments fit: none goes
        assert mem.count() == 4
        assert prune(mem, max_age_s=1e9, max_bytes=moments - 1, now=0) == 1  # one over: only the oldest goes
        assert [m.id for m in mem.search(newest_first=False)] == ["m1", "m2", "m3"]


def test_retention_compacts_vector_shards(tmp_path: Path) -> None:
    """Forgotten moments give their vectors' disk back: the shard files shrink, and what remains is found."""
    import numpy as np

    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((200, 32)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    with MomentMemory(tmp_path, dim=32) as mem:
        for i, v in enumerate(vecs):
            mem.add(_moment(i), [Keyframe(1000.0 + 10 * i, 10.0 * i, None, v)])
        shard = next((tmp_path / "vectors" / "shards").glob("*.vec"))
        full = shard.stat().st_size
        assert prune(mem, max_age_s=1e9, max_bytes=disk_usage(mem).moments // 2, now=0) >= 100
        left = mem.count()
        assert shard.stat().st_size == left * (16 + 4 * 32) < full
        assert (tmp_path / "vectors" / "deleted.i64").stat().st_size == 0
        survivor = mem.search(newest_first=True, limit=1)[0]
        assert mem.search_similar(vecs[int(survivor.id[1:])], k=1)[0].moment.id == survivor.id
    with MomentMemory(tmp_path) as again:  # reopened from the compacted files
        assert again.count() == left and again.vectors is not None and len(again.vectors) == left
        assert again.search_similar(vecs[int(survivor.id[1:])], k=1)[0].moment.id == survivor.id


def test_atomic_writes_racing_on_one_path_never_trip_over_each_other(tmp_path: Path) -> None:
    # Found by the soak test: two writers (an HTTP and an MQTT query change) shared one temporary name, and one
    # rename found the other's file gone (FileNotFoundError, a 500).
    target = tmp_path / "queries.json"
    payloads = [json.dumps({"writer": i, "fill": "x" * 4000}).encode() for i in range(8)]

    def write(data: bytes) -> None:
        for _ in range(50):
            atomic_write(target, data)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, payloads))
    assert target.read_bytes() in payloads  # whole, one writer's
    assert [p.name for p in tmp_path.iterdir()] == ["queries.json"]  # no temporary file left behind
    assert target.stat().st_mode & 0o777 == 0o644
