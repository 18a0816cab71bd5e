"""``sessionary.django.middleware.SessionMiddleware``: Django's ``SessionMiddleware``,
done cheaply, and a response that sets (or deletes) the session cookie is never storable
by a shared cache.

Put it in ``MIDDLEWARE`` where ``django.contrib.sessions.middleware.SessionMiddleware``
was (it subclasses it, so the checks that look for Django's still find it). Every
decision is Django's, in Django's order: ``request.session`` is ``SESSION_ENGINE``'s
``SessionStore`` of the cookie's value; the response varies on ``Cookie`` when the
session was accessed; an emptied session's cookie is deleted; the session is saved when
modified or with ``SESSION_SAVE_EVERY_REQUEST``, except on a 5xx, and a save that finds
the session gone answers ``SessionInterrupted``.

What it does not redo per request: the session cookie is read without parsing every
cookie when the header plainly holds one session key (:meth:`SessionMiddleware.process_request`);
the ``SESSION_*`` settings are read once
(:class:`~sessionary.django.conf.SessionSettings`); the cookie is a copy of the Morsel
Django's own ``set_cookie`` / ``delete_cookie`` made once for those settings, with its
``Expires`` text formatted once a second; its ``Set-Cookie`` text is made once for all
the responses that carry the same cookie (:class:`SessionCookie`); sessionary's engine
answers ``get_expire_at_browser_close()`` and ``get_expiry_age()`` from its kept settings,
without the clock for a session with no expiry of its own. What could
come out otherwise than from Django's code (a view that set the session cookie itself, an
age of another type, a setting ``set_cookie`` refuses) goes through Django's code.

Then, on a response carrying the session cookie, the app's ``Cache-Control: public,
max-age=600`` becomes ``private, max-age=600`` and ``CDN-Cache-Control`` /
``Surrogate-Control`` go, by the rule every sessionary adapter applies
(:mod:`sessionary.caching`). A session engine never sees the response, so this cannot
come with ``SESSION_ENGINE`` alone; ``manage.py check`` warns (``sessionary.W001``)
while the engine runs under Django's plain middleware.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from http.cookies import Morsel, SimpleCookie
from operator import is_
from typing import Any

from django.contrib.sessions.backends.base import UpdateError
from django.contrib.sessions.exceptions import SessionInterrupted
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils.cache import patch_vary_headers
from django.utils.http import http_date

from .. import caching
from ..cookies import session_token
from . import conf
from .conf import SessionSettings

INTERRUPTED = (
    "The request's session was deleted before the request completed. "
    "The user may have logged out in a concurrent request, for example."
)
"""Django's own message for ``SessionInterrupted``."""


class SessionCookie(Morsel[str]):
    """A Morsel like any other, whose ``Set-Cookie`` text is made once for every response
    carrying the same cookie: the same name and coded value, and the very same attribute
    objects in the same order (a rolling session's cookie is the same text for a second
    at a time). A Morsel changed in any way no longer matches and is formatted afresh.
    It prints as a Morsel, and its ``copy()`` is a plain Morsel."""

    def OutputString(self, attrs: Any = None) -> str:
        known = _output
        if (
            attrs is None
            and self._key == known[0]  # type: ignore[attr-defined]
            and self._coded_value == known[1]  # type: ignore[attr-defined]
            and len(self) == len(known[2])
            and all(map(is_, self, known[2]))
            and all(map(is_, self.values(), known[3]))
        ):
            return known[4]
        text = super().OutputString(attrs)
        if attrs is None and type(self.get("expires")) is not int:  # an int Expires is dated from now
            _remember_output(self, text)
        return text

    def __repr__(self) -> str:
        return f"<Morsel: {self.OutputString()}>"  # as a Morsel's


_output: tuple[Any, Any, tuple[str, ...], tuple[Any, ...], str] = (None, None, (), (), "")
"""The last ``SessionCookie`` text made: name, coded value, attribute names and values."""


def _remember_output(cookie: SessionCookie, text: str) -> None:
    global _output
    _output = (cookie.key, cookie.coded_value, tuple(cookie), tuple(cookie.values()), text)


class CookieTemplates:
    """The session cookie as Django's ``set_cookie`` and ``delete_cookie`` leave it under
    one :class:`~sessionary.django.conf.SessionSettings` (made by those very methods,
    once). ``usable`` is False when they refuse the settings (an unknown ``SameSite``):
    every response then goes through Django's code, which raises as it would."""

    def __init__(self, session: SessionSettings) -> None:
        self.settings = session
        self.name = session.cookie_name
        self.secure: Any = session.cookie_secure or None
        self.httponly: Any = session.cookie_httponly or None
        self.age = int(session.cookie_age) if type(session.cookie_age) in (int, float) else None
        """The ``Max-Age`` of a session without an expiry of its own, one object for all."""
        self.usable = True
        try:
            self.set = self._made(lambda response: self.set_cookie(response, "", None, None))
            self.deleted = self._made(self.delete_cookie)
        except Exception:
            self.usable = False

    def _made(self, make: Callable[[HttpResponseBase], None]) -> Morsel[str]:
        probe = HttpResponseBase()
        make(probe)
        morsel: Morsel[str] = probe.cookies[self.name]
        return morsel

    def set_cookie(self, response: HttpResponseBase, value: Any, max_age: Any, expires: str | None) -> None:
        """Django's middleware's own ``set_cookie`` call."""
        session = self.settings
        response.set_cookie(
            self.name,
            value,
            max_age=max_age,
            expires=expires,
            domain=session.cookie_domain,
            path=session.cookie_path,
            secure=self.secure,
            httponly=self.httponly,
            samesite=session.cookie_samesite,
        )

    def delete_cookie(self, response: HttpResponseBase) -> None:
        """Django's middleware's own ``delete_cookie`` call."""
        session = self.settings
        response.delete_cookie(
            self.name,
            path=session.cookie_path,
            domain=session.cookie_domain,
            samesite=session.cookie_samesite,
        )


_templates: CookieTemplates | None = None


def cookie_templates(session: SessionSettings) -> CookieTemplates:
    """The templates of ``session`` (the current settings), made again when they change."""
    global _templates
    found = _templates
    if found is None or found.settings is not session:
        _templates = found = CookieTemplates(session)
    return found


_expires: tuple[int, str] = (-1, "")
"""The last ``Expires`` text made, and the second it is of."""


def expires_text(when: float) -> str:
    """``http_date(when)``, formatted once per second.

    ``http_date`` rounds ``when`` to the microsecond before it drops the fraction, so a
    moment within a microsecond of the next second may be dated by that one: those few
    are formatted afresh.
    """
    global _expires
    second, text = _expires
    whole = int(when)
    if whole == second and 0.0 <= when - whole < 0.999999:
        return text
    text = http_date(when)
    if 0.0 <= when - whole < 0.999999:
        _expires = (whole, text)
    return text


_encoded: tuple[str, str] = ("", '""')
"""The last session key put in a cookie, and its coded form."""


def set_session_cookie(
    templates: CookieTemplates, response: HttpResponseBase, value: Any, max_age: Any, expires: str | None
) -> None:
    """The session cookie as Django's middleware's ``set_cookie`` call leaves it.

    A copy of the template with this value (and, unless it ends with the browser, this
    ``Max-Age`` and ``Expires``): what ``set_cookie`` makes of a fresh Morsel. A cookie the
    view already set is updated by ``set_cookie`` itself, which keeps what the view gave it.
    """
    global _encoded
    cookies = response.cookies
    name = templates.name
    if (
        not templates.usable
        or name in cookies
        or (max_age is not None and type(max_age) is not int and type(max_age) is not float)
    ):
        templates.set_cookie(response, value, max_age, expires)
        return
    if type(value) is str and type(cookies) is SimpleCookie:
        known, coded = _encoded
        if value != known:
            coded = cookies.value_encode(value)[1]
            _encoded = (value, coded)
    else:
        value, coded = cookies.value_encode(value)
    template = templates.set
    cookie = SessionCookie.__new__(SessionCookie)
    dict.update(cookie, template)
    cookie.__dict__.update(_key=name, _value=value, _coded_value=coded)
    if max_age is not None:
        age = int(max_age)
        dict.__setitem__(cookie, "expires", expires)
        dict.__setitem__(cookie, "max-age", templates.age if age == templates.age else age)
    cookies[name] = cookie


def delete_session_cookie(templates: CookieTemplates, response: HttpResponseBase) -> None:
    """The session cookie as Django's middleware's ``delete_cookie`` call leaves it."""
    name = templates.name
    if not templates.usable or name in response.cookies:
        templates.delete_cookie(response)
        return
    cookie = SessionCookie.__new__(SessionCookie)
    dict.update(cookie, templates.deleted)
    cookie.__dict__.update(templates.deleted.__dict__)
    response.cookies[name] = cookie


class SessionMiddleware(DjangoSessionMiddleware):
    def __call__(self, request: HttpRequest) -> Any:
        """``MiddlewareMixin.__call__`` of a sync chain (its async one otherwise)."""
        if self.async_mode:  # type: ignore[attr-defined]
            return super().__call__(request)
        self.process_request(request)
        return self.process_response(request, self.get_response(request))  # type: ignore[arg-type]

    def process_request(self, request: HttpRequest) -> None:
        """``request.session`` of the ``request.COOKIES.get(name)`` Django's reads, without
        parsing every cookie when the ``Cookie`` header plainly holds one session token
        (:func:`sessionary.cookies.session_token`: the value is then what Django's
        ``parse_cookie`` makes of it, an ASCII token with nothing to trim or unquote).
        Once ``request.COOKIES`` exists (read, or set by a middleware before this one),
        it is the answer."""
        config = conf.kept_settings or conf.session_settings()
        name = config.cookie_name
        key: str | None = None
        if "COOKIES" not in request.__dict__:
            header = request.META.get("HTTP_COOKIE")
            if type(header) is str and name in header:
                key = session_token(header, name)
        if key is None:
            key = request.COOKIES.get(name)
        request.session = self.SessionStore(key)

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        """Django's ``process_response``, step by step, the cookie put in place."""
        try:
            session = request.session
            accessed = session.accessed
            modified = session.modified
            empty = session.is_empty()
        except AttributeError:
            return response
        config = conf.kept_settings or conf.session_settings()
        name = config.cookie_name
        if empty and name in request.COOKIES:  # most sessions are not empty: no parse
            delete_session_cookie(cookie_templates(config), response)
            vary = True
        else:
            vary = accessed
            if (modified or config.save_every_request) and not empty:
                max_age = None if session.get_expire_at_browser_close() else session.get_expiry_age()
                expires = None if max_age is None else expires_text(time.time() + max_age)
                # Skip the save for 5xx responses.
                if response.status_code < 500:
                    try:
                        session.save()
                    except UpdateError:
                        raise SessionInterrupted(INTERRUPTED) from None
                    set_session_cookie(
                        cookie_templates(config), response, session.session_key, max_age, expires
                    )
                    vary = True
        sets_cookie = name in response.cookies
        if not vary and not sets_cookie:
            return response  # most untouched requests: nothing to add
        headers = getattr(response.headers, "_store", None)
        if type(headers) is not dict:
            headers = None  # not the Django this was written for: its own functions below
        if vary:
            if headers is None or "vary" in headers:
                patch_vary_headers(response, ("Cookie",))
            else:
                headers["vary"] = ("Vary", "Cookie")  # what patch_vary_headers puts there
        if sets_cookie:
            if headers is None or not _CACHING_HEADERS.isdisjoint(headers):
                never_shared(response)
            else:
                headers["cache-control"] = ("Cache-Control", caching.DEFAULT)  # never_shared's
        return response


_CACHING_HEADERS = frozenset({"cache-control", *caching.SHARED_ONLY_HEADERS})
"""The lower-cased names :func:`never_shared` rewrites (Django's ``ResponseHeaders``
keeps each header as ``(name, value)`` under its lower-cased name, and
``response[name] = value`` puts a plain ASCII pair there as it is)."""


def never_shared(response: HttpResponseBase) -> None:
    """Rewrite ``response``'s caching headers so that no shared cache may store it."""
    caching_headers = [
        (name, value)
        for name, value in response.items()
        if name.lower() == "cache-control" or name.lower() in caching.SHARED_ONLY_HEADERS
    ]
    for name, _ in caching_headers:
        del response[name]
    for name, value in caching.never_shared(caching_headers):
        response[name] = value


__all__ = ["SessionCookie", "SessionMiddleware", "never_shared"]
