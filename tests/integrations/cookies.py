"""Reading ``Set-Cookie`` headers in tests, as a browser would."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class SetCookie:
    name: str
    value: str
    attributes: dict[str, str] = field(default_factory=dict)
    """Lower-cased attribute names; flags (HttpOnly, Secure) map to ""."""

    @property
    def deletes(self) -> bool:
        return self.attributes.get("max-age") == "0" or "1970" in self.attributes.get("expires", "")

    @property
    def max_age(self) -> int | None:
        value = self.attributes.get("max-age")
        return None if value is None else int(value)


def parse_set_cookie(header: str) -> SetCookie:
    first, *rest = [part.strip() for part in header.split(";")]
    name, _, value = first.partition("=")
    attributes = {}
    for part in rest:
        key, _, attribute_value = part.partition("=")
        attributes[key.strip().lower()] = attribute_value.strip()
    return SetCookie(name.strip(), value.strip().strip('"'), attributes)


def session_cookie(headers: Iterable[str], name: str) -> SetCookie | None:
    """The last ``Set-Cookie`` for ``name`` among ``headers``, or None."""
    found = None
    for header in headers:
        cookie = parse_set_cookie(header)
        if cookie.name == name:
            found = cookie
    return found
