"""Records kept by the text they were decoded from: the same text read again is answered
with a copy of what it decoded to, never decoded twice.

A store with no channel to say what changed (SQLite) asks on every read, and what comes
back is most often the very text it returned the time before. Decoding that text (its
JSON, the metadata's checks field by field) costs more than the query; comparing it with
the text kept costs little. Exact by construction: an entry answers only the same key,
data text, metadata text and deadline, and each answer is a copy of its own
(:class:`~sessionary.stores.base.Kept`), so no request can change what another reads.
"""

from __future__ import annotations

import threading

from .base import Kept, Record

DEFAULT_MAX_BYTES = 4 * 1024 * 1024
"""About the most memory the kept records take in each store object (4 MiB)."""


class DecodedRecords:
    """The records decoded from each key's last text, within ``max_bytes`` (all are
    dropped when a new one would pass it: a store read at random keeps decoding)."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: dict[bytes, tuple[str, str, float, Kept, int]] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: bytes, data: str, meta: str, expires_at: float) -> Record | None:
        """A copy of the record these texts decoded to, if they are the ones kept."""
        entry = self._entries.get(key)
        if entry is None or entry[2] != expires_at or entry[0] != data or entry[1] != meta:
            return None
        return entry[3].served()

    def put(self, record: Record, data: str, meta: str) -> None:
        """Keep ``record`` (just decoded from ``data`` and ``meta``) for its key; the
        caller keeps ``record`` itself, the entry a copy of its own."""
        kept = Kept(record)
        cost = kept.size(len(data) + len(meta))
        if cost > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(record.key, None)
            if old is not None:
                self._bytes -= old[4]
            if self._bytes + cost > self.max_bytes:
                self._entries.clear()
                self._bytes = 0
            self._entries[record.key] = (data, meta, record.expires_at, kept, cost)
            self._bytes += cost

    def __len__(self) -> int:
        return len(self._entries)
