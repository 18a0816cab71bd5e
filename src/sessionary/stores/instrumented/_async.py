"""A store face that measures every operation of the face it wraps (``sessionary.telemetry``).

Each contract operation runs inside :meth:`Telemetry.operation` (a span, a duration, an
error count by cause); what the store answered feeds the session counters that only the
store can see (loaded, saved, reused). Anything else (``migrate``, ``lease``,
``user_counts``, ``path``…) is the wrapped face's own, unmeasured. Written once as async
code; the sync twin is generated.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from ..backend._async import AsyncBackend
from ..base import Change, Counts, Record, Rotation, Summary, Swap

if TYPE_CHECKING:
    from ...telemetry import Telemetry


class AsyncInstrumentedBackend(AsyncBackend):
    def __init__(self, backend: AsyncBackend, telemetry: Telemetry) -> None:
        self.backend = backend
        self.telemetry = telemetry
        self.name = backend.name
        self.waits_on_io = backend.waits_on_io

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)

    async def load(self, key: bytes, now: float) -> Record | None:
        with self.telemetry.operation("load"):
            record = await self.backend.load(key, now)
        self.telemetry.loaded(record, key)
        return record

    async def create(self, record: Record, now: float) -> bool:
        with self.telemetry.operation("create"):
            return await self.backend.create(record, now)

    async def write(self, key: bytes, change: Change, now: float) -> bool:
        with self.telemetry.operation("write"):
            written = await self.backend.write(key, change, now)
        self.telemetry.saved(written)
        return written

    async def touch(
        self, key: bytes, last_seen: float, saved_deadline: float, expires_at: float, now: float
    ) -> bool:
        with self.telemetry.operation("touch"):
            return await self.backend.touch(key, last_seen, saved_deadline, expires_at, now)

    async def compare_and_set(
        self, key: bytes, name: str, expected: str | None, value: str | None, now: float
    ) -> Swap:
        with self.telemetry.operation("compare_and_set"):
            swap = await self.backend.compare_and_set(key, name, expected, value, now)
        self.telemetry.saved(swap is Swap.SWAPPED)
        return swap

    async def rotate(
        self,
        old_key: bytes,
        record: Record,
        grace_until: float | None,
        now: float,
        change: Change | None = None,
    ) -> Rotation:
        with self.telemetry.operation("rotate"):
            return await self.backend.rotate(old_key, record, grace_until, now, change)

    async def delete(self, key: bytes) -> bool:
        with self.telemetry.operation("delete"):
            return await self.backend.delete(key)

    async def exists(self, key: bytes) -> bool:
        with self.telemetry.operation("exists"):
            return await self.backend.exists(key)

    async def clear_expired(self, now: float, batch_size: int) -> AsyncIterator[int]:
        batches = self.backend.clear_expired(now, batch_size).__aiter__()
        while True:
            with self.telemetry.operation("clear_expired"):
                try:
                    count = await batches.__anext__()
                except StopAsyncIteration:
                    return
            yield count

    async def count(self, now: float) -> Counts:
        with self.telemetry.operation("count"):
            return await self.backend.count(now)

    async def user_sessions(self, user_id: str, now: float) -> list[Summary]:
        with self.telemetry.operation("user_sessions", user_id=user_id):
            return await self.backend.user_sessions(user_id, now)

    async def delete_user_session(self, user_id: str, key: bytes) -> bool:
        with self.telemetry.operation("delete_user_session", user_id=user_id):
            return await self.backend.delete_user_session(user_id, key)

    async def revoke_user(self, user_id: str, valid_after: float, keep: bytes | None) -> int:
        with self.telemetry.operation("revoke_user", user_id=user_id):
            return await self.backend.revoke_user(user_id, valid_after, keep)

    async def aclose(self) -> None:
        await self.backend.aclose()
