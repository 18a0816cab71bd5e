"""The session's state as one value: what the request cycle reads and changes.

:class:`~sessionary.session.Session` is the view's API over a :class:`SessionState`;
the pure request cycle (:mod:`sessionary.cycle`) decides on the state alone, and the
shells (:mod:`sessionary.shell`) carry out the store calls it asks for. Nothing else
touches a session's internals.

Every request builds a state and most never use it: whatever starts the same for all of
them starts as a class default, and an instance holds its own value only once it
changes (the change-tracking collections included: an empty, read-only default until
the first change).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from .stores.base import Record

_NOTHING: frozenset[str] = frozenset()
_NO_META: Mapping[str, Any] = MappingProxyType({})


class SessionState:
    """One session as the request cycle sees it (see the module docstring)."""

    token: str | None = None
    """The token the browser holds (or will be sent); None until one is issued."""
    candidates: tuple[str, ...] = ()
    """Further values of a duplicated session cookie, tried in order on load."""
    legacy: tuple[str, ...] = ()
    """Values of an old library's cookie, read when no sessionary token loads (``Config.takeover``)."""
    expire_cookies: tuple[str, ...] = ()
    """Other cookies the response deletes (an old library's, after a take-over)."""
    had_cookie = False
    client_ip: str | None = None
    user_agent: str | None = None
    data: dict[str, Any] | None = None
    """The session's data; None until loaded (or replaced by ``clear()``)."""
    record: Record | None = None
    """The stored record as last loaded or written during this request."""
    via_alias = False
    """Loaded through a renewal alias: the browser holds the old token."""
    accessed = False
    modified = False
    rewrite = False
    """Every key is written on the next save (``clear()``, or ``modified`` set by hand)."""
    cleared = False
    logged_out = False
    failure: Exception | None = None
    """A store failure or interruption met during the request (answered 503 / 400)."""
    changed: frozenset[str] | set[str] = _NOTHING
    """Keys set since the last save."""
    removed: frozenset[str] | set[str] = _NOTHING
    """Keys deleted since the last save."""
    meta_changes: Mapping[str, Any] = _NO_META
    """Metadata this request set (sign-in, per-session timeouts), by :class:`Meta` field."""
    defers = False
    """Set by an async integration that ends this request on the store's async face: store
    work of ``login`` / ``logout`` / ``cycle_key`` / ``flush`` / ``renew`` asked for on a
    running event loop waits for that end (:attr:`deferred`) instead of blocking the loop."""
    deferred: tuple[Any, ...] = ()
    """Store work an async view left to the end of the request (:attr:`defers`):
    first steps suspended at their first store call (:class:`sessionary.shell.Suspended`),
    then steps not yet started, in the order the view asked for them."""

    def __init__(
        self,
        token: str | None = None,
        candidates: Iterable[str] = (),
        had_cookie: bool = False,
        client_ip: str | None = None,
        user_agent: str | None = None,
    ) -> None:
        if token is not None:
            self.token = token
        if candidates:
            self.candidates = tuple(candidates)
        if had_cookie:
            self.had_cookie = had_cookie
        if client_ip is not None:
            self.client_ip = client_ip
        if user_agent is not None:
            self.user_agent = user_agent

    def __repr__(self) -> str:
        loaded = "unloaded" if self.data is None else f"{len(self.data)} keys"
        return f"<SessionState {'token' if self.token else 'no token'}, {loaded}>"

    def is_empty(self) -> bool:
        """True when there is no token and no data (Django's definition)."""
        return not self.token and not self.data

    # --- change tracking -------------------------------------------------------------

    def mark_set(self, key: str) -> None:
        changed = self.changed
        if not isinstance(changed, set):
            changed = self.changed = set()
        changed.add(key)
        _discard(self.removed, key)

    def mark_removed(self, key: str) -> None:
        removed = self.removed
        if not isinstance(removed, set):
            removed = self.removed = set()
        removed.add(key)
        _discard(self.changed, key)

    def forget_change(self, key: str) -> None:
        """``key`` is stored as it stands (an atomic update wrote it)."""
        _discard(self.changed, key)
        _discard(self.removed, key)

    def set_meta(self, **values: Any) -> None:
        """Metadata the next save writes (sign-in, per-session timeouts)."""
        meta_changes = self.meta_changes
        if not isinstance(meta_changes, dict):
            meta_changes = self.meta_changes = {}
        meta_changes.update(values)

    def clear_data(self) -> None:
        """Django's ``clear()``: empty data, every stored key dropped at the next save."""
        self.data = {}
        self.accessed = True
        self.modified = True
        self.cleared = True
        self.changed = _NOTHING
        self.removed = _NOTHING

    # --- what the cycle does to it ---------------------------------------------------

    def adopt(self, token: str, record: Record, *, via_alias: bool) -> None:
        """A load found ``token``'s live record: the session is that record now."""
        self.token = token
        self.record = record
        self.data = record.data
        self.via_alias = via_alias
        self.candidates = ()

    def reject(self) -> None:
        """No presented token names a live session: start empty, with no token."""
        self.token = None
        self.record = None
        self.candidates = ()
        self.data = {}

    def forget(self) -> None:
        """The session was deleted: no token, no record, nothing pending."""
        self.token = None
        self.record = None
        self.via_alias = False
        self.candidates = ()
        self.saved()

    def saved(self) -> None:
        """After a successful save: nothing is pending any more (``modified`` stays as it
        was, so the response still sets the cookie)."""
        self.changed = _NOTHING
        self.removed = _NOTHING
        self.cleared = False
        self.rewrite = False
        self.meta_changes = _NO_META


def _discard(keys: frozenset[str] | set[str], key: str) -> None:
    if isinstance(keys, set):
        keys.discard(key)


_new = object.__new__


def presented(token: str, client_ip: str | None, user_agent: str | None) -> SessionState:
    """``SessionState(token, (), True, client_ip, user_agent)``: the state of a request
    that brought one well-formed token (most requests with a session), made without
    calling the class (a call that costs more than setting what differs from the defaults)."""
    state: SessionState = _new(SessionState)
    state.token = token
    state.had_cookie = True
    if client_ip is not None:
        state.client_ip = client_ip
    if user_agent is not None:
        state.user_agent = user_agent
    return state
