"""The async face of a store whose work is in-process and short (memory, SQLite, cookie).

Such a store has one implementation, the sync one; its async methods call it directly
on the event loop. A SQLite read on a local file takes microseconds, far less than a hop
to a worker thread would cost.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from .backend import AsyncBackend, Backend
from .base import Change, Counts, Record, Rotation, Summary, Swap


class InlineAsync(AsyncBackend):
    """Runs each call of the wrapped sync store on the event loop."""

    runs_inline = True
    """A sync call of the same store on the loop blocks no more than this face does
    (``Store.sync_blocks_loop``)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.name = backend.name

    async def load(self, key: bytes, now: float) -> Record | None:
        return self.backend.load(key, now)

    async def create(self, record: Record, now: float) -> bool:
        return self.backend.create(record, now)

    async def write(self, key: bytes, change: Change, now: float) -> bool:
        return self.backend.write(key, change, now)

    async def touch(
        self, key: bytes, last_seen: float, saved_deadline: float, expires_at: float, now: float
    ) -> bool:
        return self.backend.touch(key, last_seen, saved_deadline, expires_at, now)

    async def compare_and_set(
        self, key: bytes, name: str, expected: str | None, value: str | None, now: float
    ) -> Swap:
        return self.backend.compare_and_set(key, name, expected, value, now)

    async def rotate(
        self,
        old_key: bytes,
        record: Record,
        grace_until: float | None,
        now: float,
        change: Change | None = None,
    ) -> Rotation:
        return self.backend.rotate(old_key, record, grace_until, now, change)

    async def delete(self, key: bytes) -> bool:
        return self.backend.delete(key)

    async def exists(self, key: bytes) -> bool:
        return self.backend.exists(key)

    async def clear_expired(self, now: float, batch_size: int) -> AsyncIterator[int]:
        for count in self.backend.clear_expired(now, batch_size):
            yield count

    async def count(self, now: float) -> Counts:
        return self.backend.count(now)

    async def user_sessions(self, user_id: str, now: float) -> list[Summary]:
        return self.backend.user_sessions(user_id, now)

    async def delete_user_session(self, user_id: str, key: bytes) -> bool:
        return self.backend.delete_user_session(user_id, key)

    async def revoke_user(self, user_id: str, valid_after: float, keep: bytes | None) -> int:
        return self.backend.revoke_user(user_id, valid_after, keep)

    async def aclose(self) -> None:
        self.backend.close()
