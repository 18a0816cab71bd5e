"""An in-process store for tests and single-process experiments (``memory://``).

Values are kept as JSON text, so a loaded session never shares objects with the store,
exactly as with a real store. Everything is lost when the process ends.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace

from ..errors import StoreCorrupted
from ..serializer import decode_value, encode_stored, same_value
from . import Store
from .backend import Backend
from .base import Change, Counts, Meta, Record, Rotation, Summary, Swap, UserCounts


@dataclass(slots=True)
class _Entry:
    data: dict[str, str]
    meta: Meta
    expires_at: float
    alias_of: bytes | None = None


class MemoryBackend(Backend):
    """A dict behind a lock, honouring the whole store contract."""

    waits_on_io = False

    def __init__(self, name: str = "memory://") -> None:
        self.name = name
        self._entries: dict[bytes, _Entry] = {}
        self._valid_after: dict[str, float] = {}
        self._lock = threading.RLock()

    # --- reading ---------------------------------------------------------------------

    def _live(self, key: bytes, now: float) -> tuple[bytes, _Entry] | None:
        entry = self._entries.get(key)
        if entry is None or entry.expires_at <= now:
            return None
        if entry.alias_of is not None:
            key = entry.alias_of
            entry = self._entries.get(key)
            if entry is None or entry.expires_at <= now or entry.alias_of is not None:
                return None
        user = entry.meta.user_id
        if user is not None and entry.meta.issued_at < self._valid_after.get(user, float("-inf")):
            return None
        return key, entry

    def load(self, key: bytes, now: float) -> Record | None:
        with self._lock:
            found = self._live(key, now)
            if found is None:
                return None
            key, entry = found
            data = {name: decode_value(text) for name, text in entry.data.items()}
            return Record(key, data, replace(entry.meta), entry.expires_at)

    def exists(self, key: bytes) -> bool:
        with self._lock:
            return key in self._entries

    # --- writing ---------------------------------------------------------------------

    def create(self, record: Record, now: float) -> bool:
        with self._lock:
            existing = self._entries.get(record.key)
            if existing is not None and existing.expires_at > now:
                return False
            data = {name: encode_stored(value) for name, value in record.data.items()}
            self._entries[record.key] = _Entry(data, replace(record.meta), record.expires_at)
            return True

    def write(self, key: bytes, change: Change, now: float) -> bool:
        with self._lock:
            found = self._live(key, now)
            if found is None:
                return False
            _, entry = found
            if change.cleared:
                entry.data = {}
            for name in change.removed:
                entry.data.pop(name, None)
            entry.data.update(change.set)
            entry.meta = change.apply_meta(entry.meta)
            entry.expires_at = change.expires_at
            return True

    def touch(
        self, key: bytes, last_seen: float, saved_deadline: float, expires_at: float, now: float
    ) -> bool:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.alias_of is not None or entry.expires_at <= now:
                return False
            entry.meta.last_seen = max(entry.meta.last_seen, last_seen)
            entry.meta.saved_deadline = max(entry.meta.saved_deadline, saved_deadline)
            entry.expires_at = max(entry.expires_at, expires_at)
            return True

    def compare_and_set(
        self, key: bytes, name: str, expected: str | None, value: str | None, now: float
    ) -> Swap:
        with self._lock:
            found = self._live(key, now)
            if found is None:
                return Swap.GONE
            _, entry = found
            try:
                same = same_value(entry.data.get(name), expected)
            except ValueError as exc:
                raise StoreCorrupted(self.name, f"session key {name!r} is not valid JSON ({exc})") from None
            if not same:
                return Swap.CONFLICT
            if value is None:
                entry.data.pop(name, None)
            else:
                entry.data[name] = value
            return Swap.SWAPPED

    def rotate(
        self,
        old_key: bytes,
        record: Record,
        grace_until: float | None,
        now: float,
        change: Change | None = None,
    ) -> Rotation:
        with self._lock:
            old = self._entries.get(old_key)
            if old is None or old.alias_of is not None or old.expires_at <= now:
                return Rotation.GONE
            if self._live(old_key, now) is None:
                return Rotation.GONE  # revoked
            change = change or Change.replacing(record.data)
            if not self.create(replace(record, data={}), now):
                return Rotation.COLLISION
            data = {} if change.cleared else dict(old.data)
            for name in change.removed:
                data.pop(name, None)
            data.update(change.set)
            self._entries[record.key].data = data
            if grace_until is None:
                del self._entries[old_key]
            else:
                old.alias_of = record.key
                old.data = {}
                old.expires_at = min(old.expires_at, grace_until)
            return Rotation.ROTATED

    def delete(self, key: bytes) -> bool:
        with self._lock:
            return self._entries.pop(key, None) is not None

    def clear_expired(self, now: float, batch_size: int) -> Iterator[int]:
        while True:
            with self._lock:
                batch = [key for key, entry in self._entries.items() if entry.expires_at < now][:batch_size]
                for key in batch:
                    del self._entries[key]
            if not batch:
                return
            yield len(batch)

    def count(self, now: float) -> Counts:
        with self._lock:
            live = sum(1 for entry in self._entries.values() if entry.expires_at > now)
            return Counts(live=live, expired=len(self._entries) - live)

    def user_counts(self, now: float, limit: int) -> UserCounts:
        with self._lock:
            counts = Counter(
                entry.meta.user_id
                for entry in self._entries.values()
                if entry.alias_of is None and entry.meta.user_id is not None and entry.expires_at > now
            )
        top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
        return UserCounts(len(counts), sum(counts.values()), top)

    # --- users -----------------------------------------------------------------------

    def user_sessions(self, user_id: str, now: float) -> list[Summary]:
        with self._lock:
            found = []
            for key, entry in self._entries.items():
                if entry.alias_of is None and entry.meta.user_id == user_id and self._live(key, now):
                    found.append(Summary(key, replace(entry.meta), entry.expires_at))
            return found

    def delete_user_session(self, user_id: str, key: bytes) -> bool:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.meta.user_id != user_id:
                return False
            del self._entries[key]
            return True

    def revoke_user(self, user_id: str, valid_after: float, keep: bytes | None) -> int:
        with self._lock:
            self._valid_after[user_id] = max(valid_after, self._valid_after.get(user_id, valid_after))
            doomed = [
                key for key, entry in self._entries.items() if entry.meta.user_id == user_id and key != keep
            ]
            for key in doomed:
                del self._entries[key]
            return len(doomed)

    def close(self) -> None:
        pass


def open_memory(url: str, *, config: object = None) -> Store:
    """``memory://``: a new, empty in-process store."""
    from .inline import InlineAsync

    backend = MemoryBackend(url)
    return Store(backend, InlineAsync(backend))
