"""The one object an app holds: a store, a config, a clock and the event hook.

Framework adapters call :meth:`SessionManager.open` when a request arrives and
:meth:`SessionManager.close_session` (or ``aclose_session``) before the response leaves.
Apps call it for what lives beyond one request: a user's devices, revocation, cleanup.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

from . import lifecycle
from ._async import engine as async_engine
from ._sync import engine as sync_engine
from .cleanup_scheduler import CleanupScheduler, supports_cleanup
from .clock import Clock, SystemClock
from .config import Config
from .devices import Device
from .errors import ConfigError
from .events import Event, EventHook, log_event
from .session import Session
from .stores import Store, open_store
from .stores.base import Counts
from .takeover.base import note_old_cookie
from .tokens import log_id

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
        self._event_observers: list[EventHook] = []
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
        return self.clock.now().timestamp()

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
        if self.cleanup is not None:
            self.cleanup.ensure_running()
        session = lifecycle.open_session(
            self,
            cookie_header,
            client_ip=client_ip,
            user_agent=user_agent,
            session_class=session_class,
        )
        if self.config.takeover is not None:
            note_old_cookie(session, self.config.takeover, cookie_header)
        return session

    def close_session(self, session: Session, status_code: int) -> lifecycle.Outcome:
        """Save as needed and say which headers the response gets (sync)."""
        return sync_engine.close(session, status_code)

    async def aclose_session(self, session: Session, status_code: int) -> lifecycle.Outcome:
        return await async_engine.close(session, status_code)

    # --- a user's sessions -----------------------------------------------------------

    def list_sessions(self, user_id: str | int, *, current: Session | None = None) -> list[Device]:
        """The user's live sessions, the current one (if given) first and marked."""
        return sync_engine.list_sessions(self, str(user_id), current)

    async def alist_sessions(self, user_id: str | int, *, current: Session | None = None) -> list[Device]:
        return await async_engine.list_sessions(self, str(user_id), current)

    def revoke(self, user_id: str | int, handle: str) -> bool:
        """End the session ``handle`` names, if it is one of ``user_id``'s."""
        return sync_engine.revoke(self, str(user_id), handle)

    async def arevoke(self, user_id: str | int, handle: str) -> bool:
        return await async_engine.revoke(self, str(user_id), handle)

    def revoke_all(self, user_id: str | int, *, except_current: Session | None = None) -> int:
        """End every session of the user ("log out everywhere"), or every other one."""
        return sync_engine.revoke_all(self, str(user_id), except_current)

    async def arevoke_all(self, user_id: str | int, *, except_current: Session | None = None) -> int:
        return await async_engine.revoke_all(self, str(user_id), except_current)

    # --- the whole store -------------------------------------------------------------

    def clear_expired(self, batch_size: int = 1000) -> Iterator[int]:
        """Delete expired records batch by batch (Django's ``clearsessions``)."""
        return sync_engine.clear_expired(self, batch_size)

    def aclear_expired(self, batch_size: int = 1000) -> AsyncIterator[int]:
        return async_engine.clear_expired(self, batch_size)

    def stats(self) -> Counts:
        return sync_engine.stats(self)

    async def astats(self) -> Counts:
        return await async_engine.stats(self)

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
