"""What the test clients share: the reply they hand back (the hardening and DBSC sites,
the integration tests' senders, the HTTP tests' browser), and the one
``request(method, path, *, cookie, headers, **query)`` every hardening and DBSC site
offers over its own way of sending (a framework's test client, a DBSC mount's, Django's)."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode


@dataclass
class Reply:
    """A response as every test client here hands it back."""

    status: int
    headers: list[tuple[str, str]]
    """Every response header, in order, repeated ones kept (the sites lower-case the names)."""
    text: str

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        return ", ".join(values) if values else None

    @property
    def set_cookies(self) -> list[str]:
        return [value for key, value in self.headers if key.lower() == "set-cookie"]

    def json(self) -> Any:
        return json.loads(self.text)


class SiteClient(ABC):
    """A site's requests: ``request`` builds the headers and the target, ``send`` (each
    site's own) puts them through."""

    framework: str
    cookie_name: str
    manager: Any
    """The site's ``SessionManager`` (or what stands for it): its ``clock`` is the test's."""

    def request(
        self,
        method: str,
        path: str,
        *,
        cookie: str | None = None,
        headers: dict[str, str] | None = None,
        **query: Any,
    ) -> Reply:
        """Send ``Cookie: cookie`` (a whole header) or none, other ``headers``, and the query."""
        headers = dict(headers or {})
        if cookie:
            headers["Cookie"] = cookie
        target = f"{path}?{urlencode(query)}" if query else path
        return self.send(method, target, headers)

    @abstractmethod
    def send(self, method: str, target: str, headers: dict[str, str]) -> Reply:
        """Send ``method`` to ``target`` (the path and its query string) with ``headers``."""

    def get(self, path: str, *, token: str | None = None, cookie: str | None = None, **query: Any) -> Reply:
        """``token`` sends the session cookie with that token (``cookie``: a whole header)."""
        if token is not None:
            cookie = f"{self.cookie_name}={token}" + (f"; {cookie}" if cookie else "")
        return self.request("GET", path, cookie=cookie, **query)
