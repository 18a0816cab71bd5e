# Generated from the async source by scripts/unasync.py: edit that file, not this one.
"""A store face that measures every operation of the face it wraps (``sessionary.telemetry``).

Each contract operation runs inside :meth:`Telemetry.operation` (a span, a duration, an
error count by cause); what the store answered feeds the session counters that only the
store can see (loaded, saved, reused). Anything else (``migrate``, ``lease``,
``user_counts``, ``path``…) is the wrapped face's own, unmeasured. Written once as async
code; the sync twin is generated.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..backend._sync import Backend
from ..base import Change, Counts, Record, Rotation, Summary, Swap

if TYPE_CHECKING:
    from ...telemetry import Telemetry


class InstrumentedBackend(Backend):
    def __init__(self, backend: Backend, telemetry: Telemetry) -> None:
        self.backend = backend
        self.telemetry = telemetry
        self.name = backend.name
        self.waits_on_io = backend.waits_on_io

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)

    def load(self, key: bytes, now: float) -> Record | None:
        with self.telemetry.operation("load"):
            record = self.backend.load(key, now)
        self.telemetry.loaded(record, key)
        return record

    def create(self, record: Record, now: float) -> bool:
        with self.telemetry.operation("create"):
            return self.backend.create(record, now)

    def write(self, key: bytes, change: Change, now: float) -> bool:
        with self.telemetry.operation("write"):
            written = self.backend.write(key, change, now)
        self.telemetry.saved(written)
        return written

    def touch(
        self, key: bytes, last_seen: float, saved_deadline: float, expires_at: float, now: float
    ) -> bool:
        with self.telemetry.operation("touch"):
            return self.backend.touch(key, last_seen, saved_deadline, expires_at, now)

    def compare_and_set(
        self, key: bytes, name: str, expected: str | None, value: str | None, now: float
    ) -> Swap:
        with self.telemetry.operation("compare_and_set"):
            swap = self.backend.compare_and_set(key, name, expected, value, now)
        self.telemetry.saved(swap is Swap.SWAPPED)
        return swap

    def rotate(
        self,
        old_key: bytes,
        record: Record,
        grace_until: float | None,
        now: float,
        change: Change | None = None,
    ) -> Rotation:
        with self.telemetry.operation("rotate"):
            return self.backend.rotate(old_key, record, grace_until, now, change)

    def delete(self, key: bytes) -> bool:
        with self.telemetry.operation("delete"):
            return self.backend.delete(key)

    def exists(self, key: bytes) -> bool:
        with self.telemetry.operation("exists"):
            return self.backend.exists(key)

    def clear_expired(self, now: float, batch_size: int) -> Iterator[int]:
        batches = self.backend.clear_expired(now, batch_size).__iter__()
        while True:
            with self.telemetry.operation("clear_expired"):
                try:
                    count = batches.__next__()
                except StopIteration:
                    return
            yield count

    def count(self, now: float) -> Counts:
        with self.telemetry.operation("count"):
            return self.backend.count(now)

    def user_sessions(self, user_id: str, now: float) -> list[Summary]:
        with self.telemetry.operation("user_sessions", user_id=user_id):
            return self.backend.user_sessions(user_id, now)

    def delete_user_session(self, user_id: str, key: bytes) -> bool:
        with self.telemetry.operation("delete_user_session", user_id=user_id):
            return self.backend.delete_user_session(user_id, key)

    def revoke_user(self, user_id: str, valid_after: float, keep: bytes | None) -> int:
        with self.telemetry.operation("revoke_user", user_id=user_id):
            return self.backend.revoke_user(user_id, valid_after, keep)

    def close(self) -> None:
        self.backend.close()
