"""The operations every store provides, declared once (async) and generated for sync code."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator

from ..base import Change, Counts, Record, Rotation, Summary, Swap


class AsyncBackend(ABC):
    """A place sessions live. Keys are SHA-256 digests of tokens; times are epoch seconds.

    Every method that reads must treat a record whose ``expires_at <= now`` as absent,
    and one whose user has a ``valid_after`` later than the record's ``issued_at`` as
    absent too (revocation that holds even when the user index missed a session).
    """

    name: str
    """How errors and logs name the store (its URL without credentials)."""
    waits_on_io: bool = True
    """Whether a call may wait on something outside the process (a socket, the disk, a
    lock another process holds): a sync call of such a store blocks an event loop it runs
    on (``Config.blocking_store_calls``). False for ``memory://`` and ``cookie://``."""

    @abstractmethod
    async def load(self, key: bytes, now: float) -> Record | None:
        """The live record under ``key``, following a renewal alias within its grace."""

    @abstractmethod
    async def create(self, record: Record, now: float) -> bool:
        """Store a new record atomically; False if ``record.key`` is taken by a live record."""

    @abstractmethod
    async def write(self, key: bytes, change: Change, now: float) -> bool:
        """Apply ``change`` to the live record under ``key`` (or the one an alias points to).

        False, and nothing written, when there is no live record: a session deleted by a
        concurrent logout must stay deleted.
        """

    @abstractmethod
    async def touch(
        self, key: bytes, last_seen: float, saved_deadline: float, expires_at: float, now: float
    ) -> bool:
        """Record activity: move ``last_seen``, ``saved_deadline`` (in the metadata) and
        ``expires_at`` forward, never back. False, and nothing written, if the record is gone."""

    @abstractmethod
    async def compare_and_set(
        self, key: bytes, name: str, expected: str | None, value: str | None, now: float
    ) -> Swap:
        """Set the data key ``name`` of the live record under ``key`` (or the one an alias
        points to) to the JSON text ``value`` (None removes it), only if it still holds
        ``expected`` (None: absent). Values are compared as JSON values, as
        :func:`sessionary.serializer.same_value` does. Nothing else changes.

        ``SWAPPED``; ``CONFLICT`` and nothing written when the value differs; ``GONE`` and
        nothing written when there is no live record (no resurrection).
        """

    @abstractmethod
    async def rotate(
        self,
        old_key: bytes,
        record: Record,
        grace_until: float | None,
        now: float,
        change: Change | None = None,
    ) -> Rotation:
        """Move the session under ``old_key`` to ``record.key`` with ``record.meta`` and
        ``record.expires_at``.

        The new record's data is the old record's data as stored at that moment with
        ``change`` applied (so a write that landed after this request read the session
        is kept); without ``change`` it is ``record.data``. ``record.data`` is the
        request's view of the result, which a store may show while the move is under way.
        With ``grace_until`` None the old key stops working at once; otherwise it becomes
        an alias of the new key until then, so requests already in flight still find
        the session and their writes land in it.
        """

    @abstractmethod
    async def delete(self, key: bytes) -> bool:
        """Remove the record (and any user-index entry); True if there was one."""

    @abstractmethod
    async def exists(self, key: bytes) -> bool:
        """Whether a record is stored under ``key``, live or not yet cleaned up."""

    @abstractmethod
    def clear_expired(self, now: float, batch_size: int) -> AsyncIterator[int]:
        """Delete records that expired before ``now``, yielding each batch's count."""

    @abstractmethod
    async def count(self, now: float) -> Counts:
        """How many stored records are live and how many expired (for ``stats``)."""

    @abstractmethod
    async def user_sessions(self, user_id: str, now: float) -> list[Summary]:
        """The user's live sessions; prunes index entries of sessions that are gone."""

    @abstractmethod
    async def delete_user_session(self, user_id: str, key: bytes) -> bool:
        """Delete one session, only if it belongs to ``user_id``."""

    @abstractmethod
    async def revoke_user(self, user_id: str, valid_after: float, keep: bytes | None) -> int:
        """Refuse every session of the user issued before ``valid_after``, and delete all
        the index knows of except ``keep``. Returns how many were deleted."""

    @abstractmethod
    async def aclose(self) -> None:
        """Release connections."""
