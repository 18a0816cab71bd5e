"""A minimal cookie-keeping client that drives a SessionManager the way a middleware does.

Each ``request`` opens the session from the cookie the "browser" holds, runs the view,
closes the session (save, touch, rotation, cookie decision) and applies the resulting
``Set-Cookie`` to the jar, exactly as a browser would.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from sessionary import SessionManager
from sessionary.lifecycle import Outcome
from sessionary.session import Session

T = TypeVar("T")
_VALUE = re.compile(r"^([^=]+)=([^;]*)")


class Browser:
    def __init__(
        self, manager: SessionManager, *, user_agent: str = "test-browser", ip: str = "192.0.2.1"
    ) -> None:
        self.manager = manager
        self.cookie: str | None = None
        self.user_agent = user_agent
        self.ip = ip
        self.last: Outcome | None = None

    @property
    def cookie_name(self) -> str:
        return self.manager.config.session_cookie_name

    def header(self) -> str | None:
        return None if self.cookie is None else f"{self.cookie_name}={self.cookie}"

    def request(self, view: Callable[[Session], T] | None = None, *, status: int = 200) -> T | None:
        session = self.manager.open(self.header(), client_ip=self.ip, user_agent=self.user_agent)
        result = view(session) if view is not None else None
        self.last = self.manager.close_session(session, status)
        self.apply(self.last)
        return result

    def apply(self, outcome: Outcome) -> None:
        if outcome.set_cookie is None:
            return
        name, value = _VALUE.match(outcome.set_cookie).groups()  # type: ignore[union-attr]
        assert name == self.cookie_name
        deleted = "Max-Age=0" in outcome.set_cookie or value == '""'
        self.cookie = None if deleted else value

    def get(self, key: str, default: Any = None) -> Any:
        return self.request(lambda s: s.get(key, default))

    def fork(self) -> Browser:
        """Another browser holding a copy of this one's cookie (a stolen or restored cookie)."""
        other = Browser(self.manager, user_agent=self.user_agent, ip=self.ip)
        other.cookie = self.cookie
        return other
