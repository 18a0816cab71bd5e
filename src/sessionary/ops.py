"""What the pure request cycle asks of the world, as values.

:mod:`sessionary.cycle` decides; when a decision needs the store it yields one of these
and receives the answer. A store operation's fields are, in order, the arguments of the
store method of the same name (:data:`STORE_METHODS`), so a shell performs it as
``getattr(backend, STORE_METHODS[type(op)])(*op)``, awaited on the async face. The few
others go to the old library of a take-over, the cookie codec, the event hook or the clock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from .stores.base import Change, Record
    from .takeover.base import OldSession


class Load(NamedTuple):
    key: bytes
    now: float


class Create(NamedTuple):
    record: Record
    now: float


class Write(NamedTuple):
    key: bytes
    change: Change
    now: float


class Touch(NamedTuple):
    key: bytes
    last_seen: float
    saved_deadline: float
    expires_at: float
    now: float


class Rotate(NamedTuple):
    old_key: bytes
    record: Record
    grace_until: float | None
    now: float
    change: Change | None = None


class CompareAndSet(NamedTuple):
    key: bytes
    name: str
    expected: str | None
    value: str | None
    now: float


class Delete(NamedTuple):
    key: bytes


class Exists(NamedTuple):
    key: bytes


class UserSessions(NamedTuple):
    user_id: str
    now: float


class DeleteUserSession(NamedTuple):
    user_id: str
    key: bytes


class RevokeUser(NamedTuple):
    user_id: str
    valid_after: float
    keep: bytes | None


STORE_METHODS: dict[type, str] = {
    Load: "load",
    Create: "create",
    Write: "write",
    Touch: "touch",
    Rotate: "rotate",
    CompareAndSet: "compare_and_set",
    Delete: "delete",
    Exists: "exists",
    UserSessions: "user_sessions",
    DeleteUserSession: "delete_user_session",
    RevokeUser: "revoke_user",
}
"""Each store operation and the :class:`~sessionary.stores.backend._async.AsyncBackend` method it calls."""


class ReadOld(NamedTuple):
    """The session an old library's cookie value names (``Config.takeover``'s ``read``)."""

    value: str
    now: float


class RetireOld(NamedTuple):
    """Make the old library's copy of a taken-over session dead (``Config.takeover``'s ``retire``)."""

    old: OldSession


SOURCE_METHODS: dict[type, str] = {ReadOld: "read", RetireOld: "retire"}
"""Each operation on the take-over's old library and the :class:`~sessionary.takeover.Source` method it calls."""


class Decode(NamedTuple):
    """The record a ``cookie://`` cookie value carries (the store's codec), or None."""

    token: str
    now: float


class Encode(NamedTuple):
    """The ``cookie://`` cookie value that carries a record (the store's codec)."""

    record: Record


class Emit(NamedTuple):
    """A security event for the manager's log and hook; the reply is None."""

    kind: str
    key: bytes | None
    user_id: str | None = None
    reason: str | None = None
    new_key: bytes | None = None


class Pause(NamedTuple):
    """Wait this long before trying again (a lost compare-and-set); the reply is None."""

    seconds: float


Op = Any
"""One of the operations above (a union would make every ``yield`` site spell it out)."""
