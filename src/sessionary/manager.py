"""The one object an app holds: a store, a config, a clock and the event hook.

Framework adapters call :meth:`SessionManager.open` when a request arrives and
:meth:`SessionManager.close_session` (or ``aclose_session``) before the response leaves.
Apps call it for what lives beyond one request: a user's devices, revocation, cleanup.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from . import accounts, cycle, lifecycle
from .cleanup_scheduler import CleanupScheduler, supports_cleanup
from .clock import Clock, SystemClock
from .config import Config
from .cycle import Context, Outcome
from .devices import Device
from .errors import ConfigError
from .events import Event, EventHook, log_event
from .session import Session
from .shell import arun, check_blocking, run
from .stores import Store, open_store, worker
from .stores.base import Counts
from .takeover.carry import note_old_cookie
from .tokens import log_id, new_token

logger = logging.getLogger("sessionary")

DEFAULT_STORE = "sqlite:///sessions.db"


class SessionManager:
    """Sessions for one application.

    ``SessionManager("redis://localhost/0", cookie_age=3600)`` is shorthand for passing
    ``config=Config(cookie_age=3600)``.
    """

    def __init__(
        self,
        store: str | Store = DEFAULT_STORE,
        config: Config | None = None,
        *,
        clock: Clock | None = None,
        on_event: EventHook | None = None,
        **settings: Any,
    ) -> None:
        if settings:
            config = config.with_changes(**settings) if config is not None else Config(**settings)
        self.config = config or Config()
        self.store = open_store(store, config=self.config)
        if self.config.takeover is not None and self.store.codec is not None:
            raise ConfigError(
                "takeover", f"needs a server-side store to mark what was taken over, not {self.store.name}"
            )
        self.clock: Clock = clock or SystemClock()
        self._on_event = on_event
        self.context = Context(self.config, self.store.name, self.store.codec is not None)
        """What the request cycle (:mod:`sessionary.cycle`) knows of this app."""
        self._event_observers: list[EventHook] = []
        self.blocking_store_calls: str = self.config.blocking_store_calls or "allow"
        """What a sync store call on a running event loop does (``Config.blocking_store_calls``,
        or the integration's choice when that is None: :meth:`serve_async_views`)."""
        self.warned_sites: set[tuple[str, int, str, str] | None] = set()
        """Call sites already warned of a blocking store call (``blocking_store_calls="warn"``)."""
        self.cleanup: CleanupScheduler | None = None
        """The background cleanup, started by the first request of each process (None
        when ``cleanup_interval`` is None or the store expires records itself)."""
        if self.config.cleanup_interval is not None and supports_cleanup(self):
            self.cleanup = CleanupScheduler(
                self, interval=self.config.cleanup_interval, batch_size=self.config.cleanup_batch_size
            )
        if self.config.telemetry:
            from .telemetry import instrument

            instrument(self)

    def __repr__(self) -> str:
        return f"<SessionManager store={self.store.name}>"

    def now(self) -> float:
        clock = self.clock
        if type(clock) is SystemClock:
            return time.time()  # what datetime.now(UTC).timestamp() gives, without the datetime
        return clock.now().timestamp()

    def serve_async_views(self) -> None:
        """Called by an integration whose async views get the session loaded (read before
        the view, or handed out by an awaited accessor): a sync store call left on the
        event loop warns unless ``blocking_store_calls`` says otherwise. (Such an
        integration also marks each HTTP request's session ``state.defers``, so that
        ``login`` / ``logout`` / ``cycle_key`` / ``flush`` / ``renew`` in an async view
        leave their store calls to the async end of the request.)"""
        if self.config.blocking_store_calls is None:
            self.blocking_store_calls = "warn"

    # --- one request -----------------------------------------------------------------

    def open(
        self,
        cookie_header: str | None,
        *,
        client_ip: str | None = None,
        user_agent: str | None = None,
        session_class: type[Session] | None = None,
    ) -> Session:
        """A lazy session for a request carrying ``cookie_header`` (no store call yet);
        ``session_class`` is a :class:`Session` subclass a framework adapter needs."""
        cleanup = self.cleanup
        if cleanup is not None and cleanup.started_in != worker.forks:  # ensure_running's own check
            cleanup.ensure_running()
        session = lifecycle.open_session(self, cookie_header, client_ip, user_agent, session_class)
        if self.config.takeover is not None:
            note_old_cookie(session.state, self.config.takeover, cookie_header)
        return session

    def close_session(self, session: Session, status_code: int) -> Outcome:
        """Save as needed and say which headers the response gets (sync)."""
        if session.state.deferred:
            session.settle()
        outcome = cycle.close(session.state, self.context, status_code, self.now, new_token)
        return outcome if isinstance(outcome, Outcome) else run(outcome, self)

    async def aclose_session(self, session: Session, status_code: int) -> Outcome:
        if session.state.deferred:
            await session.asettle()
        outcome = cycle.close(session.state, self.context, status_code, self.now, new_token)
        return outcome if isinstance(outcome, Outcome) else await arun(outcome, self)

    # --- a user's sessions -----------------------------------------------------------

    def list_sessions(self, user_id: str | int, *, current: Session | None = None) -> list[Device]:
        """The user's live sessions, the current one (if given) first and marked."""
        state = None if current is None else current.state
        devices = run(accounts.list_sessions(self.context, str(user_id), state, self.now(), new_token), self)
        if current is not None:
            current.mirror()
        return devices

    async def alist_sessions(self, user_id: str | int, *, current: Session | None = None) -> list[Device]:
        state = None if current is None else current.state
        steps = accounts.list_sessions(self.context, str(user_id), state, self.now(), new_token)
        devices = await arun(steps, self)
        if current is not None:
            current.mirror()
        return devices

    def revoke(self, user_id: str | int, handle: str) -> bool:
        """End the session ``handle`` names, if it is one of ``user_id``'s."""
        return run(accounts.revoke(str(user_id), handle), self)

    async def arevoke(self, user_id: str | int, handle: str) -> bool:
        return await arun(accounts.revoke(str(user_id), handle), self)

    def revoke_all(self, user_id: str | int, *, except_current: Session | None = None) -> int:
        """End every session of the user ("log out everywhere"), or every other one."""
        state = None if except_current is None else except_current.state
        count = run(accounts.revoke_all(self.context, str(user_id), state, self.now(), new_token), self)
        if except_current is not None:
            except_current.mirror()
        return count

    async def arevoke_all(self, user_id: str | int, *, except_current: Session | None = None) -> int:
        state = None if except_current is None else except_current.state
        steps = accounts.revoke_all(self.context, str(user_id), state, self.now(), new_token)
        count = await arun(steps, self)
        if except_current is not None:
            except_current.mirror()
        return count

    # --- the whole store -------------------------------------------------------------

    def clear_expired(self, batch_size: int = 1000) -> Iterator[int]:
        """Delete expired records batch by batch (Django's ``clearsessions``)."""
        check_blocking(self, "clear_expired")
        yield from self.store.sync.clear_expired(self.now(), batch_size)

    async def aclear_expired(self, batch_size: int = 1000) -> AsyncIterator[int]:
        async for count in self.store.aio.clear_expired(self.now(), batch_size):
            yield count

    def stats(self) -> Counts:
        check_blocking(self, "count")
        return self.store.sync.count(self.now())

    async def astats(self) -> Counts:
        return await self.store.aio.count(self.now())

    def close(self) -> None:
        if self.cleanup is not None:
            self.cleanup.stop()
        self.store.close()

    async def aclose(self) -> None:
        if self.cleanup is not None:
            self.cleanup.stop()
        await self.store.aclose()

    # --- events ----------------------------------------------------------------------

    def observe_events(self, observer: EventHook) -> None:
        """Call ``observer`` with every event too (telemetry counts them); one that raises
        is logged, and the request goes on."""
        self._event_observers.append(observer)

    def emit(
        self,
        kind: str,
        key: bytes | None,
        *,
        user_id: str | None = None,
        reason: str | None = None,
        new_key: bytes | None = None,
    ) -> None:
        secret = self.config.log_secret
        event = Event(
            kind=kind,
            session=None if not key else log_id(key, secret),
            at=self.clock.now(),
            user_id=user_id,
            reason=reason,
            new_session=None if not new_key else log_id(new_key, secret),
        )
        log_event(event)
        for observer in self._event_observers:
            try:
                observer(event)
            except Exception:
                logger.exception("a session event observer failed on %s", event.kind)
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:
                logger.exception("the session event hook failed on %s", event.kind)
