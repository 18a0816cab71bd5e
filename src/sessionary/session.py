"""The session object a view sees: Django's ``SessionBase`` API with Django's exact flags.

* Nothing is loaded until the data is used; any use of the data sets ``accessed``, and
  loads the store once. ``clear()`` and ``is_empty()`` never load.
* ``modified`` is set exactly where Django sets it (``pop`` of a missing key with a
  default does not, ``update({})`` does, ``setdefault`` only when it inserts).
* The session records which keys changed, so a save writes only those. Mutating a
  stored value in place (``session["cart"].append(x)``) is invisible, as in Django: set
  ``session.modified = True`` afterwards, which makes the next save rewrite every key.
* Every ``a*`` method is the same operation for async code: it awaits the load, then
  runs the sync logic, which no longer needs I/O.
* Where the integration reads the session before an async view
  (``state.defers``), ``cycle_key``, ``renew``, ``flush`` and
  :func:`sessionary.auth.login` / ``logout`` called in that view decide at once and leave
  their store calls to the async end of the request (:meth:`Session.asettle`), so they
  never block the event loop; until then ``session_key`` is still the old token.
"""

from __future__ import annotations

import logging
from asyncio.events import _get_running_loop
from collections.abc import Callable, ItemsView, Iterable, Iterator, KeysView, Mapping, ValuesView
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from . import cycle, expiry
from .clock import from_timestamp
from .errors import SessionInterrupted, StoreError
from .shell import Suspended, arun, call_name, check_blocking, run, start, waits_always
from .state import SessionState
from .tokens import handle as key_handle
from .tokens import new_token, store_key

if TYPE_CHECKING:
    from .manager import SessionManager

logger = logging.getLogger("sessionary")

_MISSING: Any = object()
_UNLOADED = "\x00sessionary: not loaded"
"""The one key the dict's own storage holds while a session with a token is not loaded."""


class noting_failure:  # named as the function it replaced: ``with noting_failure(session):``
    """Remember on the session a store failure (or a vanished session) met by a store call.

    Frameworks turn an exception raised in a view into their own 500 page before the
    middleware sees it; the end of the request uses this note to answer 503 (or 400)
    instead, as it does when the exception reaches it. A class, not a generator-based
    context manager: every first use of a session enters it, and a generator costs
    several times more to enter and leave.
    """

    __slots__ = ("_session",)

    def __init__(self, session: Session) -> None:
        self._session = session

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: Any
    ) -> Literal[False]:
        if isinstance(error, StoreError | SessionInterrupted):
            self._session.state.failure = error
        return False  # the error goes on


def opened(session_class: type[Session], manager: SessionManager, state: SessionState) -> Session:
    """``session_class(manager, ...)`` for a request's state made already (every request
    comes through here): when the class keeps :class:`Session`'s ``__init__``, the
    session is made without a call of it (a dict subclass called with keywords costs
    more than the rest of the untouched request)."""
    if session_class.__init__ is not Session.__init__:
        return session_class(
            manager,
            state.token,
            candidates=state.candidates,
            had_cookie=state.had_cookie,
            client_ip=state.client_ip,
            user_agent=state.user_agent,
        )
    session = dict.__new__(session_class)
    session._manager = manager
    session.state = state
    if state.token is not None:
        dict.__setitem__(session, _UNLOADED, True)  # see __init__
    return session


class Session(dict[str, Any]):
    """One visitor's session, bound to the request that opened it.

    Its state is one value, :attr:`state` (a :class:`~sessionary.state.SessionState`),
    which the request cycle reads and changes; this class is the view's API over it.

    It is a ``dict`` (as the sessions of Starlette, Flask and Litestar are), so code
    that hands it to ``json.dumps``, ``JSONResponse`` or compares it with ``{}`` keeps
    working. The dict's own storage is only a mirror of the loaded data, kept for C
    code that reads it directly (the json encoder); every method here works on the
    loaded data, with Django's flags.
    """

    TEST_COOKIE_NAME: ClassVar[str] = "testcookie"
    TEST_COOKIE_VALUE: ClassVar[str] = "worked"

    def __init__(
        self,
        manager: SessionManager,
        token: str | None = None,
        *,
        candidates: Iterable[str] = (),
        had_cookie: bool = False,
        client_ip: str | None = None,
        user_agent: str | None = None,
    ) -> None:
        self._manager = manager
        self.state = SessionState(token, candidates, had_cookie, client_ip, user_agent)
        if token is not None:
            # Not loaded yet: the dict's own storage must not look empty to C code that
            # checks its size before asking for items() (the json encoder).
            dict.__setitem__(self, _UNLOADED, True)

    def __repr__(self) -> str:
        data = self.state.data
        return f"<Session {self.handle or 'new'} {'unloaded' if data is None else f'{len(data)} keys'}>"

    @property
    def manager(self) -> SessionManager:
        return self._manager

    # --- flags and identity ----------------------------------------------------------

    @property
    def accessed(self) -> bool:
        return self.state.accessed

    @accessed.setter
    def accessed(self, value: bool) -> None:
        self.state.accessed = bool(value)

    @property
    def modified(self) -> bool:
        return self.state.modified

    @modified.setter
    def modified(self, value: bool) -> None:
        """Setting it by hand means "something changed that I did not tell you about"."""
        self.state.modified = bool(value)
        if value:
            self.state.rewrite = True

    @property
    def session_key(self) -> str | None:
        """The token the browser holds (Django's name for it); None until one is issued."""
        return self.state.token

    @property
    def handle(self) -> str | None:
        """A non-secret name for this session, as shown in the user's device list."""
        state = self.state
        if state.record is not None and state.record.key:  # a cookie-borne record has no key
            return key_handle(state.record.key)
        if state.token is not None and self._manager.store.codec is None:
            return key_handle(store_key(state.token))
        return None

    def is_empty(self) -> bool:
        """True when there is no token and no data (Django's definition)."""
        return self.state.is_empty()

    @property
    def loadable(self) -> bool:
        """Whether a load could find a session: the request brought a token, or an old
        library's cookie the take-over may read (``Config.takeover``)."""
        return self.state.token is not None or bool(self.state.legacy)

    def __bool__(self) -> bool:
        return not self.state.is_empty()

    # --- loading ---------------------------------------------------------------------

    def _data(self) -> dict[str, Any]:
        state = self.state
        state.accessed = True
        data = state.data
        if data is None:
            if state.token is None and not state.legacy:
                state.data = data = {}
            else:
                manager = self._manager
                with noting_failure(self):
                    run(cycle.load(state, manager.context, manager.now(), new_token), manager)
                self.mirror()
                data = state.data
                assert data is not None
        return data

    async def _adata(self) -> dict[str, Any]:
        state = self.state
        state.accessed = True
        data = state.data
        if data is None:
            if state.token is None and not state.legacy:
                state.data = data = {}
            else:
                manager = self._manager
                with noting_failure(self):
                    await arun(cycle.load(state, manager.context, manager.now(), new_token), manager)
                self.mirror()
                data = state.data
                assert data is not None
        return data

    def mirror(self) -> None:
        """Make the dict's own storage hold the loaded data (see the class docstring):
        called after any step of the cycle that may have loaded or replaced it."""
        dict.clear(self)
        if self.state.data:
            dict.update(self, self.state.data)

    def load(self) -> dict[str, Any]:
        """Load now (normally implicit); returns the live data."""
        return self._data()

    async def aload(self) -> dict[str, Any]:
        return await self._adata()

    # --- the dict API (Django's flag semantics) --------------------------------------

    def __contains__(self, key: object) -> bool:
        return key in self._data()

    def has_key(self, key: str) -> bool:
        return key in self._data()

    def __getitem__(self, key: str) -> Any:
        return self._data()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._data().get(key, default)

    def __setitem__(self, key: str, value: Any) -> None:
        self._data()[key] = value
        dict.__setitem__(self, key, value)
        self.state.mark_set(key)
        self.state.modified = True

    def __delitem__(self, key: str) -> None:
        del self._data()[key]
        dict.pop(self, key, None)
        self.state.mark_removed(key)
        self.state.modified = True

    def pop(self, key: str, default: Any = _MISSING) -> Any:
        data = self._data()
        present = key in data
        self.state.modified = self.state.modified or present
        if present:
            self.state.mark_removed(key)
            dict.pop(self, key, None)
        return data.pop(key) if default is _MISSING else data.pop(key, default)

    def setdefault(self, key: str, value: Any = None) -> Any:
        data = self._data()
        if key in data:
            return data[key]
        self[key] = value
        return value

    def update(self, other: Mapping[str, Any] | Iterable[tuple[str, Any]] = (), /, **kwargs: Any) -> None:  # type: ignore[override]
        data = self._data()
        incoming = dict(other, **kwargs)
        data.update(incoming)
        dict.update(self, incoming)
        for key in incoming:
            self.state.mark_set(key)
        self.state.modified = True

    def keys(self) -> KeysView[str]:  # type: ignore[override]
        return self._data().keys()

    def values(self) -> ValuesView[Any]:  # type: ignore[override]
        return self._data().values()

    def items(self) -> ItemsView[str, Any]:  # type: ignore[override]
        return self._data().items()

    def __iter__(self) -> Iterator[str]:
        return iter(self._data())

    def __len__(self) -> int:
        return len(self._data())

    def __reversed__(self) -> Iterator[str]:
        return reversed(self._data())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._data() == dict(other.items())
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def popitem(self) -> tuple[str, Any]:
        """Remove and return the last key and its value (``KeyError`` when empty)."""
        key = next(reversed(self._data()), _MISSING)
        if key is _MISSING:
            raise KeyError("popitem(): session is empty")
        return key, self.pop(key)

    def copy(self) -> dict[str, Any]:
        """A plain dict of the data (not a second session)."""
        return dict(self._data())

    def __or__(self, other: Any) -> dict[str, Any]:  # type: ignore[override]
        if not isinstance(other, Mapping):
            return NotImplemented
        return {**self._data(), **other}

    def __ror__(self, other: Any) -> dict[str, Any]:  # type: ignore[override]
        if not isinstance(other, Mapping):
            return NotImplemented
        return {**other, **self._data()}

    def __ior__(self, other: Any) -> Session:  # type: ignore[override]
        self.update(other)
        return self

    def clear(self) -> None:
        """Empty the data without loading it; the token is kept (Django's ``clear``)."""
        self.state.clear_data()
        dict.clear(self)

    # --- the test cookie -------------------------------------------------------------

    def set_test_cookie(self) -> None:
        self[self.TEST_COOKIE_NAME] = self.TEST_COOKIE_VALUE

    def test_cookie_worked(self) -> bool:
        return bool(self.get(self.TEST_COOKIE_NAME) == self.TEST_COOKIE_VALUE)

    def delete_test_cookie(self) -> None:
        del self[self.TEST_COOKIE_NAME]

    # --- expiry (Django's API) -------------------------------------------------------

    def get_session_cookie_age(self) -> int:
        return self._manager.config.cookie_age

    def set_expiry(self, value: int | float | datetime | timedelta | None) -> None:
        """``int`` seconds after each save, ``0`` browser close, ``None`` the default,
        ``datetime`` / ``timedelta`` an absolute instant fixed now."""
        if value is None:
            if expiry.EXPIRY_KEY in self._data():
                del self[expiry.EXPIRY_KEY]
            return
        self[expiry.EXPIRY_KEY] = expiry.stored_expiry(value, now=self._manager.clock.now())

    def _expiry_value(self, kwargs: dict[str, Any]) -> Any:
        return kwargs["expiry"] if "expiry" in kwargs else self.get(expiry.EXPIRY_KEY)

    def get_expiry_age(self, **kwargs: Any) -> int | float:
        """Seconds until the session expires, floored (Django's ``get_expiry_age``)."""
        modification = kwargs.get("modification") or self._manager.clock.now()
        return expiry.expiry_age(
            self._expiry_value(kwargs), modification=modification, cookie_age=self.get_session_cookie_age()
        )

    def get_expiry_date(self, **kwargs: Any) -> datetime:
        modification = kwargs.get("modification") or self._manager.clock.now()
        return expiry.expiry_date(
            self._expiry_value(kwargs), modification=modification, cookie_age=self.get_session_cookie_age()
        )

    def get_expire_at_browser_close(self) -> bool:
        return expiry.expire_at_browser_close(
            self.get(expiry.EXPIRY_KEY), default=self._manager.config.expire_at_browser_close
        )

    # --- sessionary's metadata -------------------------------------------------------

    def _record_loaded(self) -> None:
        state = self.state
        if state.record is None and state.token is not None:
            self._data()

    @property
    def user_id(self) -> str | None:
        """The signed-in user (set by :func:`sessionary.auth.login`), if any."""
        if "user_id" not in self.state.meta_changes:
            self._record_loaded()
        return cycle.user_id(self.state)

    def _meta_time(self, name: str) -> datetime | None:
        self._record_loaded()
        record = self.state.record
        if record is None:
            return None
        value = getattr(record.meta, name)
        return None if value is None else from_timestamp(value)

    @property
    def created_at(self) -> datetime | None:
        return self._meta_time("created_at")

    @property
    def auth_at(self) -> datetime | None:
        return self._meta_time("auth_at")

    @property
    def last_seen(self) -> datetime | None:
        return self._meta_time("last_seen")

    def server_deadline(self) -> datetime | None:
        """When the server will stop accepting this session if no other request comes:
        the deadline the store holds once this request ends (idle, absolute and Django
        expiry all counted). None for a session that will not be stored."""
        self._record_loaded()
        deadline = cycle.projected_deadline(self.state, self._manager.config, self._manager.now())
        return None if deadline is None else from_timestamp(deadline)

    def set_timeouts(self, *, idle: int | None = None, absolute: int | None = None) -> None:
        """Per-session idle / absolute timeouts in seconds (0 switches one off for this
        session, None keeps the configured one). Saved with the session."""
        for name, value in (("idle_timeout", idle), ("absolute_timeout", absolute)):
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError(f"{name} must be a whole number of seconds, 0 or more, not {value!r}")
                self.state.set_meta(**{name: value})
        self._data()
        self.state.modified = True

    # --- store work an async view left to the end of the request ----------------------

    def run_or_defer(self, steps: cycle.Steps[None]) -> None:
        """Run ``steps`` now on the store's sync face; or, on a running event loop where the
        integration asks for it (``state.defers``) and the store waits on
        I/O, run them only up to their first store call and leave the rest to the end of
        the request (:meth:`asettle`). Steps asked for while others wait queue behind them."""
        state = self.state
        manager = self._manager
        if state.deferred:
            state.deferred += (steps,)
            return
        if state.defers and manager.store.sync_blocks_loop and _get_running_loop() is not None:
            with noting_failure(self):
                suspended = start(steps, manager)
            if suspended is not None:
                state.deferred = (suspended,)
            return
        with noting_failure(self):
            run(steps, manager)

    def settle(self) -> None:
        """Do now, on the sync face, the store work left to the end of the request."""
        state = self.state
        first = state.deferred[0] if state.deferred else None
        if isinstance(first, Suspended):
            # Refused (blocking_store_calls="raise")? Then nothing is lost: the work stays.
            check_blocking(self._manager, call_name(first.op), waits=waits_always(first.op))
        pending = _Pending(state)
        with noting_failure(self):
            try:
                while state.deferred:
                    item, state.deferred = state.deferred[0], state.deferred[1:]
                    if isinstance(item, Suspended):
                        run(item.steps, self._manager, item)
                    else:
                        run(item, self._manager)
            finally:
                state.deferred = ()
                pending.restore(state)
                self.mirror()

    async def asettle(self) -> None:
        """Do the store work left to the end of the request, on the async face (the async
        integrations call it before the save, and after a view that raised)."""
        state = self.state
        pending = _Pending(state)
        with noting_failure(self):
            try:
                while state.deferred:
                    item, state.deferred = state.deferred[0], state.deferred[1:]
                    if isinstance(item, Suspended):
                        await arun(item.steps, self._manager, item)
                    else:
                        await arun(item, self._manager)
            finally:
                state.deferred = ()
                pending.restore(state)
                self.mirror()

    async def asettle_after_error(self) -> None:
        """:meth:`asettle` for a request that ends without a save (its view raised): a
        sign-out asked for before the error still deletes the stored session. A store
        failure here is logged; the view's error is the request's answer."""
        if not self.state.deferred:
            return
        try:
            await self.asettle()
        except Exception:
            logger.exception("the session's deferred store work failed after the view's error")

    # --- store operations (Django's flush / cycle_key / save) ------------------------

    def flush(self) -> None:
        """Delete the session from the store and forget its token; the cookie goes too."""
        self.clear()
        self.run_or_defer(cycle.delete(self.state, self._manager.context))

    async def aflush(self) -> None:
        if self.state.deferred:
            await self.asettle()
        self.clear()
        with noting_failure(self):
            await arun(cycle.delete(self.state, self._manager.context), self._manager)

    def cycle_key(self) -> None:
        """Move the data to a new token now; the old token stops working at once."""
        self._data()
        manager = self._manager
        self.run_or_defer(cycle.rotate(self.state, manager.context, manager.now(), new_token, grace=None))

    async def acycle_key(self) -> None:
        if self.state.deferred:
            await self.asettle()
        await self._adata()
        manager = self._manager
        with noting_failure(self):
            await arun(
                cycle.rotate(self.state, manager.context, manager.now(), new_token, grace=None), manager
            )

    def renew(self, *, grace: int | None) -> None:
        """A new token now, keeping the data; the old one keeps working for ``grace``
        seconds as an alias of the new one (None: it stops at once, as ``cycle_key``)."""
        manager = self._manager
        self.run_or_defer(cycle.rotate(self.state, manager.context, manager.now(), new_token, grace=grace))

    async def arenew(self, *, grace: int | None) -> None:
        if self.state.deferred:
            await self.asettle()
        manager = self._manager
        with noting_failure(self):
            await arun(
                cycle.rotate(self.state, manager.context, manager.now(), new_token, grace=grace), manager
            )

    def save(self) -> None:
        """Persist now rather than at the end of the request (the middleware still sets
        the cookie). Raises :class:`~sessionary.errors.SessionValueError` naming a key
        that cannot be stored, before writing anything."""
        if self.state.deferred:
            self.settle()
        manager = self._manager
        with noting_failure(self):
            run(cycle.save(self.state, manager.context, manager.now(), new_token), manager)
        self.mirror()

    async def asave(self) -> None:
        if self.state.deferred:
            await self.asettle()
        manager = self._manager
        with noting_failure(self):
            await arun(cycle.save(self.state, manager.context, manager.now(), new_token), manager)
        self.mirror()

    # --- read-modify-write without lost updates --------------------------------------

    def update_atomic(
        self,
        key: str,
        update: Callable[[Any], Any],
        default: Any = None,
        *,
        attempts: int = cycle.ATOMIC_ATTEMPTS,
    ) -> Any:
        """Set ``key`` to ``update(current value)`` in the store now, losing no concurrent
        update: ``session.update_atomic("visits", lambda n: n + 1, 0)``.

        The stored value is read afresh and the new one stored only if the key still
        holds it (compare-and-set); otherwise it is read again and ``update`` called again,
        so ``update`` must be a pure function of its argument. Returns the new value.
        Raises :class:`~sessionary.errors.StoreConflict` after ``attempts`` lost races,
        :class:`~sessionary.errors.SessionInterrupted` if the session was deleted meanwhile,
        and :class:`~sessionary.errors.UnsupportedOperation` on the ``cookie://`` store.
        Like :meth:`save`, the write is done when this returns, whatever the response.
        """
        if self.state.deferred:
            self.settle()
        manager = self._manager
        steps = cycle.update_atomic(
            self.state, manager.context, key, update, default, attempts, manager.now, new_token
        )
        with noting_failure(self):
            try:
                return run(steps, manager)
            finally:
                self.mirror()

    async def aupdate_atomic(
        self,
        key: str,
        update: Callable[[Any], Any],
        default: Any = None,
        *,
        attempts: int = cycle.ATOMIC_ATTEMPTS,
    ) -> Any:
        if self.state.deferred:
            await self.asettle()
        manager = self._manager
        steps = cycle.update_atomic(
            self.state, manager.context, key, update, default, attempts, manager.now, new_token
        )
        with noting_failure(self):
            try:
                return await arun(steps, manager)
            finally:
                self.mirror()

    # --- async forms of the dict and expiry API (Django 5.1+ names) ------------------

    async def aget(self, key: str, default: Any = None) -> Any:
        await self._adata()
        return self.get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        await self._adata()
        self[key] = value

    async def apop(self, key: str, default: Any = _MISSING) -> Any:
        await self._adata()
        return self.pop(key, default)

    async def asetdefault(self, key: str, value: Any = None) -> Any:
        await self._adata()
        return self.setdefault(key, value)

    async def aupdate(
        self, other: Mapping[str, Any] | Iterable[tuple[str, Any]] = (), /, **kwargs: Any
    ) -> None:
        await self._adata()
        self.update(other, **kwargs)

    async def ahas_key(self, key: str) -> bool:
        await self._adata()
        return self.has_key(key)

    async def akeys(self) -> KeysView[str]:
        await self._adata()
        return self.keys()

    async def avalues(self) -> ValuesView[Any]:
        await self._adata()
        return self.values()

    async def aitems(self) -> ItemsView[str, Any]:
        await self._adata()
        return self.items()

    async def aset_test_cookie(self) -> None:
        await self._adata()
        self.set_test_cookie()

    async def atest_cookie_worked(self) -> bool:
        await self._adata()
        return self.test_cookie_worked()

    async def adelete_test_cookie(self) -> None:
        await self._adata()
        self.delete_test_cookie()

    async def aset_expiry(self, value: int | float | datetime | timedelta | None) -> None:
        await self._adata()
        self.set_expiry(value)

    async def aget_expiry_age(self, **kwargs: Any) -> int | float:
        if "expiry" not in kwargs:
            await self._adata()
        return self.get_expiry_age(**kwargs)

    async def aget_expiry_date(self, **kwargs: Any) -> datetime:
        if "expiry" not in kwargs:
            await self._adata()
        return self.get_expiry_date(**kwargs)

    async def aget_expire_at_browser_close(self) -> bool:
        await self._adata()
        return self.get_expire_at_browser_close()


class _Pending:
    """What the view changed while store work waited (:meth:`Session.settle`): that work
    saves the session and forgets its pending changes, so they are noted again after it
    and the end of the request writes them."""

    __slots__ = ("changed", "cleared", "meta", "removed", "rewrite")

    def __init__(self, state: SessionState) -> None:
        self.changed = tuple(state.changed)
        self.removed = tuple(state.removed)
        self.rewrite = state.rewrite
        self.cleared = state.cleared
        self.meta = dict(state.meta_changes)

    def restore(self, state: SessionState) -> None:
        data = state.data or {}
        for key in self.changed:
            if key in data:
                state.mark_set(key)
        for key in self.removed:
            if key not in data:
                state.mark_removed(key)
        if self.rewrite:
            state.rewrite = True
        if self.cleared and not data:
            state.cleared = True
        if self.meta:
            state.set_meta(**self.meta)
