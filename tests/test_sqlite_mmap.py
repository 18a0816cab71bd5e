"""The SQLite store reads through a memory map of its file (``mmap_size``).

The map keeps a lookup's cost nearly flat as the file outgrows SQLite's page cache
(bench/scale.py measures it); here: it is on by default, can be sized or turned off by
URL, and a connection reading through it sees what other connections commit.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sessionary.errors import ConfigError
from sessionary.stores import open_store
from sessionary.stores.base import Change, Meta, Record
from sessionary.stores.sqlite import DEFAULT_MMAP_SIZE, SQLiteBackend


def mapped_bytes(backend: object) -> int:
    assert isinstance(backend, SQLiteBackend)
    ((size,),) = backend._connection().execute("PRAGMA mmap_size").fetchall()
    return int(size)


def record(key: bytes, now: float) -> Record:
    meta = Meta(created_at=now, issued_at=now, last_seen=now, saved_deadline=now + 3600)
    return Record(key, {"cart": [1]}, meta, now + 3600)


def test_the_file_is_read_through_a_memory_map_by_default(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/sessions.db")
    assert DEFAULT_MMAP_SIZE == 1 << 30
    assert mapped_bytes(store.sync) == DEFAULT_MMAP_SIZE
    store.close()


@pytest.mark.parametrize("size", [0, 64 << 20])
def test_the_map_is_sized_or_turned_off_by_url(tmp_path: Path, size: int) -> None:
    store = open_store(f"sqlite:///{tmp_path}/sessions.db?mmap_size={size}")
    assert mapped_bytes(store.sync) == size
    store.close()


@pytest.mark.parametrize(
    ("query", "message"),
    [("mmap_size=-1", "mmap_size=-1 must be 0"), ("mmap_size=big", "mmap_size='big' is not a valid int")],
)
def test_a_bad_map_size_is_refused_naming_it(tmp_path: Path, query: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"^store: .*{message}"):
        open_store(f"sqlite:///{tmp_path}/sessions.db?{query}")


def test_a_mapped_reader_sees_what_another_connection_commits(tmp_path: Path) -> None:
    reader = open_store(f"sqlite:///{tmp_path}/sessions.db")
    writer = open_store(f"sqlite:///{tmp_path}/sessions.db?mmap_size=0")
    now = time.time()
    keys = [bytes([n]) * 32 for n in range(200)]
    for key in keys:
        assert writer.sync.create(record(key, now), now)
    assert reader.sync.load(keys[0], now) is not None  # the reader maps the file now
    for step, key in enumerate(keys):
        assert writer.sync.write(key, Change(set={"cart": f"[{step}]"}, expires_at=now + 3600), now)
        loaded = reader.sync.load(key, now)
        assert loaded is not None and loaded.data == {"cart": [step]}
    assert writer.sync.delete(keys[-1])
    assert reader.sync.load(keys[-1], now) is None
    reader.close()
    writer.close()
