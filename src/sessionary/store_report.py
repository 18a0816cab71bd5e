"""What an operator asks of a store beyond its counts: is it healthy, who holds the sessions.

``sessionary stats`` prints these; a health endpoint or a monitoring probe can call them
too. A health check is one real session lookup (of a key no session has), so it takes
the path every request takes and fails the way requests would fail.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from .errors import SessionaryError, UnsupportedOperation

if TYPE_CHECKING:
    from .manager import SessionManager
    from .stores.base import UserCounts


class _Counting(Protocol):
    def user_counts(self, now: float, limit: int) -> UserCounts: ...


@dataclass(frozen=True, slots=True)
class Health:
    ok: bool
    seconds: float
    """How long the lookup took (until it failed, when it failed)."""
    error: str | None = None


def check_health(manager: SessionManager) -> Health:
    """One lookup of an absent key through the store's sync face, timed."""
    started = time.perf_counter()
    try:
        if manager.store.codec is None:
            manager.store.sync.load(secrets.token_bytes(32), manager.now())
    except SessionaryError as exc:
        return Health(False, time.perf_counter() - started, str(exc))
    return Health(True, time.perf_counter() - started)


def user_counts(manager: SessionManager, top: int = 10) -> UserCounts:
    """Live sessions by user; :class:`UnsupportedOperation` for a store that keeps none."""
    backend = manager.store.sync
    # A cached store counts in its database (the cache may hold only some sessions).
    backend = backend if hasattr(backend, "user_counts") else getattr(backend, "database", backend)
    if not hasattr(backend, "user_counts"):
        raise UnsupportedOperation(
            manager.store.name, "count sessions by user", "it keeps no per-user index on the server"
        )
    counting: _Counting = backend
    return counting.user_counts(manager.now(), top)
