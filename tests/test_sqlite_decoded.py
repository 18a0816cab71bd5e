"""The SQLite store decodes each stored text once: a load that reads the very text it
read before is answered with a copy of what it decoded to (stores/decoded.py). What is
served must always be what the file holds now, whoever changed it."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from conformance.test_backend import change, record
from sessionary.errors import StoreCorrupted
from sessionary.stores.base import Meta, Record
from sessionary.stores.decoded import DecodedRecords
from sessionary.stores.sqlite import SQLiteBackend


def test_the_same_texts_are_answered_with_a_copy_of_their_own() -> None:
    kept = DecodedRecords()
    now = time.time()
    original = record(now, {"cart": [1, 2], "n": 1})
    kept.put(original, '{"cart":[1,2],"n":1}', "meta-text")
    first = kept.get(original.key, '{"cart":[1,2],"n":1}', "meta-text", original.expires_at)
    assert first == original and first is not original
    first.data["cart"].append(3)  # a view changes its session in place
    first.data["n"] = 2
    second = kept.get(original.key, '{"cart":[1,2],"n":1}', "meta-text", original.expires_at)
    assert second is not None and second.data == {"cart": [1, 2], "n": 1}
    original.data["n"] = 9  # nor does the caller's own record reach the entry
    assert kept.get(original.key, '{"cart":[1,2],"n":1}', "meta-text", original.expires_at) == second


def test_other_texts_or_another_deadline_are_not_answered() -> None:
    kept = DecodedRecords()
    now = time.time()
    original = record(now)
    kept.put(original, "data", "meta")
    assert kept.get(original.key, "data", "meta", original.expires_at) is not None
    assert kept.get(original.key, "data2", "meta", original.expires_at) is None
    assert kept.get(original.key, "data", "meta2", original.expires_at) is None
    assert kept.get(original.key, "data", "meta", original.expires_at + 1) is None
    assert kept.get(b"another key", "data", "meta", original.expires_at) is None


def test_memory_stays_within_the_budget() -> None:
    kept = DecodedRecords(max_bytes=20_000)
    now = time.time()
    records = [record(now, {"v": "x" * 1000}) for _ in range(40)]
    for each in records:
        kept.put(each, "x" * 1000, "meta")
    assert 0 < len(kept) < 40
    assert kept._bytes <= 20_000
    big = record(now, {"v": "y" * 30_000})
    kept.put(big, "y" * 30_000, "meta")  # larger than the whole budget: never kept
    assert kept.get(big.key, "y" * 30_000, "meta", big.expires_at) is None


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "sessions.db"


def test_a_change_made_elsewhere_is_what_the_next_load_returns(path: Path) -> None:
    here, elsewhere = SQLiteBackend(path), SQLiteBackend(path)  # two processes' stores
    now = time.time()
    stored = record(now, {"a": 1})
    assert here.create(stored, now)
    assert here.load(stored.key, now) == stored
    assert here.load(stored.key, now) == stored  # answered from the decoded copy
    assert elsewhere.write(stored.key, change(now, stored.expires_at, a=2), now)
    loaded = here.load(stored.key, now)
    assert loaded is not None and loaded.data == {"a": 2}
    assert elsewhere.delete(stored.key)
    assert here.load(stored.key, now) is None


def test_a_row_edited_into_garbage_is_refused_after_it_was_read(path: Path) -> None:
    backend = SQLiteBackend(path)
    now = time.time()
    stored = record(now)
    assert backend.create(stored, now)
    assert backend.load(stored.key, now) == stored
    with sqlite3.connect(path) as db:
        db.execute("UPDATE sessionary_sessions SET data = 'not json' WHERE key = ?", (stored.key,))
    with pytest.raises(StoreCorrupted):
        backend.load(stored.key, now)
    with sqlite3.connect(path) as db:
        meta = json.loads(stored.meta.to_json())
        meta["created_at"] = "yesterday"
        db.execute(
            "UPDATE sessionary_sessions SET data = ?, meta = ? WHERE key = ?",
            (json.dumps(stored.data, separators=(",", ":")), json.dumps(meta), stored.key),
        )
    with pytest.raises(StoreCorrupted):
        backend.load(stored.key, now)


def test_a_loaded_record_changed_by_its_caller_does_not_change_the_next(path: Path) -> None:
    backend = SQLiteBackend(path)
    now = time.time()
    stored = Record(record(now).key, {"items": [1]}, Meta(now, now, now, now + 60), now + 60)
    assert backend.create(stored, now)
    for _ in range(3):  # the first decoded, the next ones answered from the kept copy
        loaded = backend.load(stored.key, now)
        assert loaded is not None and loaded.data == {"items": [1]}
        loaded.data["items"].append(2)
