"""The durable outbox on its own: order, forgetting, surviving a reopen, its durability settings, and every way
SQLite can refuse it said as a PublishError."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from streamer.errors import PublishError
from streamer.transport.outbox import Outbox


def test_messages_wait_in_order_until_done_and_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "outbox.sqlite"  # its folders are made
    box = Outbox(path)
    first, second, third = box.put("a/1", b"one", 1), box.put("a/2", b"two", 2), box.put("a/3", b"\x00three", 0)
    assert 0 < first < second < third
    assert box.pending() == [(first, "a/1", b"one", 1), (second, "a/2", b"two", 2), (third, "a/3", b"\x00three", 0)]
    assert len(box) == 3
    box.done(second)
    box.done(second)  # twice: nothing more happens
    assert [seq for seq, *_ in box.pending()] == [first, third] and len(box) == 2
    box.close()
    again = Outbox(path)
    assert again.pending() == [(first, "a/1", b"one", 1), (third, "a/3", b"\x00three", 0)]
    again.done(third)
    fourth = again.put("a/4", b"four", 1)
    assert fourth > third  # numbers are never reused, even after the newest row went
    again.close()


def test_it_is_written_for_durability(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.sqlite")
    assert box._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert box._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL: on disk when put returns
    box.put("t", b"x", 1)
    with sqlite3.connect(tmp_path / "outbox.sqlite") as other:  # another connection sees it: committed, not pending
        assert other.execute("SELECT topic, payload, qos FROM outbox").fetchall() == [("t", b"x", 1)]
    box.close()


def test_puts_from_many_threads_all_land(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.sqlite")

    def put_many(k: int) -> None:
        for i in range(50):
            box.put(f"t/{k}", str(i).encode(), 1)

    threads = [threading.Thread(target=put_many, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = box.pending()
    assert len(rows) == 200 and len({seq for seq, *_ in rows}) == 200
    for k in range(4):  # each thread's messages in its own order
        assert [int(p) for _, t, p, _ in rows if t == f"t/{k}"] == list(range(50))
    box.close()


def test_refusals_are_publish_errors_naming_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    with pytest.raises(PublishError, match=f"cannot open the MQTT outbox at {folder}"):
        Outbox(folder)  # a folder where the file should be
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    with pytest.raises(PublishError, match="cannot open the MQTT outbox"):
        Outbox(blocked / "outbox.sqlite")  # its folder cannot be made
    box = Outbox(tmp_path / "outbox.sqlite")
    box.close()
    with pytest.raises(PublishError, match="cannot write to the MQTT outbox at"):
        box.put("t", b"x", 1)
    with pytest.raises(PublishError, match="cannot update the MQTT outbox at"):
        box.done(1)
