"""DBSC for Django: a middleware after the session middleware, for the sessionary engine
(``SESSION_ENGINE = "sessionary.django"``) or any other (the binding lives in the
session's data, under ``_dbsc``).

    MIDDLEWARE = [
        "sessionary.django.middleware.SessionMiddleware",
        "sessionary.dbsc.django.DBSCMiddleware",
        ...
    ]
    SESSIONARY_DBSC = DBSCConfig(...)        # optional: paths and lifetimes

It answers the registration and refresh endpoints itself (no URL conf), refuses a
bound session without a live bound cookie, and adds the registration header to the
response of a request that loaded a session ``django.contrib.auth`` signed in, before
the session middleware saves it. The bound cookie is named after
``SESSION_COOKIE_NAME`` (``sessionid-bound``).

One difference from the other mounts: a refresh keeps the session key. Django's
``cycle_key`` has no grace alias, so renewing the key would leave requests already in
flight with the old one without a session; the bound cookie is renewed all the same,
and its predecessor stays good for ``SESSIONARY_REUSE_GRACE`` seconds.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils import timezone
from django.utils.deprecation import MiddlewareMixin

from ..config import Config
from . import protocol
from .protocol import DBSCConfig, Reply


class DjangoBinding:
    """A Django session as :class:`~sessionary.dbsc.protocol.Bindable`."""

    def __init__(self, session: SessionBase) -> None:
        self.session = session

    @property
    def session_key(self) -> str | None:
        return self.session.session_key

    @property
    def user_id(self) -> str | None:
        value = self.session.get(SESSION_KEY)
        return None if value is None else str(value)

    @property
    def loaded(self) -> bool:
        return hasattr(self.session, "_session_cache")

    def get(self, key: str, default: Any = None) -> Any:
        return self.session.get(key, default)

    def __setitem__(self, key: str, value: Any) -> None:
        self.session[key] = value


class DBSCMiddleware(MiddlewareMixin):
    def process_request(self, request: HttpRequest) -> HttpResponseBase | None:
        session = getattr(request, "session", None)
        if not isinstance(session, SessionBase):
            return None
        binding = DjangoBinding(session)
        dbsc, config = _settings()
        headers = protocol.request_headers(request.headers.items())
        method = request.method or "GET"
        reply = protocol.answer(binding, method, request.path_info, headers, config, dbsc, _now())
        return None if reply is None else _response(reply)

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        session = getattr(request, "session", None)
        if isinstance(session, SessionBase):
            binding = DjangoBinding(session)
            if binding.loaded:
                value = protocol.announce(binding, _settings()[0], _now())
                if value is not None:
                    response[protocol.REGISTRATION_HEADER] = value
        return response


_configs: dict[tuple[str, int], Config] = {}


def _settings() -> tuple[DBSCConfig, Config]:
    """``SESSIONARY_DBSC``, and what the protocol needs of a config, from Django's settings
    (the cookie's name; the grace of a replaced bound cookie, ``SESSIONARY_REUSE_GRACE``)."""
    dbsc = getattr(settings, "SESSIONARY_DBSC", None) or DBSCConfig()
    if not isinstance(dbsc, DBSCConfig):
        raise TypeError(f"SESSIONARY_DBSC must be a sessionary.dbsc.DBSCConfig, not {type(dbsc).__name__}")
    key = (settings.SESSION_COOKIE_NAME, int(getattr(settings, "SESSIONARY_REUSE_GRACE", 30)))
    config = _configs.get(key)
    if config is None:
        config = _configs[key] = Config(cookie_name=key[0], cookie_host_prefix=False, renewal_grace=key[1])
    return dbsc, config


def _now() -> float:
    return timezone.now().timestamp()


def _response(reply: Reply) -> HttpResponse:
    response = HttpResponse(reply.body, status=reply.status)
    del response["Content-Type"]
    for name, value in reply.headers:
        if name.lower() == "set-cookie":
            response.cookies.load(value)  # with the session middleware's cookie, as Django sends cookies
        else:
            response[name] = value
    return response


__all__ = ["DBSCMiddleware", "DjangoBinding"]
