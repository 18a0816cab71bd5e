"""Switching from Django's own session backends without signing anyone out.

A user signs in through ``django.contrib.auth`` on Django's ``db``, ``cache`` or
``cached_db`` backend (Django's own code writes the session); the project then switches
to ``sessionary.django`` with ``SESSIONARY_TAKEOVER`` naming the old engine, or an ASGI
app to sessionary's ``SessionMiddleware`` with ``takeover=DjangoSessions(...)``. The user
is still signed in under a new key, the old copy is gone, a replay of the old cookie opens
nothing, and an expired or made-up old key is refused.
"""

from __future__ import annotations

import time
from importlib import import_module
from typing import Any

import pytest
from django.test import Client
from django.test.utils import override_settings

from sessionary.stores import open_store
from sessionary.takeover import DjangoSessions
from sessionary.takeover.django import CACHE, CACHED_DB, DB

from .conftest import Engines, make_user

OLD_ENGINES = [DB, CACHE, CACHED_DB]
PASSWORD = "secret-password"


def sign_in_on(old_engine: str, **extra: str) -> tuple[Client, str, str]:
    """A browser signed in by Django's own backend: (client, username, old session key)."""
    user = make_user(password=PASSWORD)
    client = Client()
    with override_settings(SESSION_ENGINE=old_engine):
        answer = client.post("/login/", {"username": user.username, "password": PASSWORD, **extra})
        assert answer.status_code == 200
        assert client.get("/whoami/").json() == {"user": user.username}
    key = client.cookies["sessionid"].value
    assert import_module(old_engine).SessionStore().exists(key)
    return client, user.username, key


def whoami(key: str) -> Any:
    client = Client()
    client.cookies["sessionid"] = key
    return client.get("/whoami/").json()["user"]


@pytest.mark.parametrize("old_engine", OLD_ENGINES)
def test_django_engine_user_stays_signed_in(engines: Engines, store_name: str, old_engine: str) -> None:
    _, username, old_key = sign_in_on(old_engine)
    with engines.activate(store_name, SESSIONARY_TAKEOVER=old_engine):
        client = Client()  # the restarted project: its middleware loads the new engine
        client.cookies["sessionid"] = old_key
        assert client.get("/whoami/").json() == {"user": username}
        new_key = client.cookies["sessionid"].value
        assert new_key != old_key and len(new_key) == 43
        assert client.get("/whoami/").json() == {"user": username}
        assert not import_module(old_engine).SessionStore().exists(old_key), "the old copy is deleted"
        assert whoami(old_key) is None, "a replayed old cookie opens nothing"
        assert whoami(new_key) == username


@pytest.mark.parametrize("old_engine", OLD_ENGINES)
def test_django_engine_refuses_expired_and_unknown_keys(
    engines: Engines, store_name: str, old_engine: str
) -> None:
    _, _, old_key = sign_in_on(old_engine, expiry="1")
    with engines.activate(store_name, SESSIONARY_TAKEOVER=old_engine):
        assert whoami("0" * 32) is None  # shaped like a Django key, never issued
        assert whoami("not-a-django-key") is None
        time.sleep(1.5)  # the session's own expiry (set_expiry(1)) passes
        assert whoami(old_key) is None


def test_a_bad_takeover_setting_names_itself(engines: Engines) -> None:
    from django.core.exceptions import ImproperlyConfigured

    from sessionary.django import conf

    with (
        engines.activate("sqlite", SESSIONARY_TAKEOVER="no.such.engine"),
        pytest.raises(ImproperlyConfigured, match="SESSIONARY_TAKEOVER"),
    ):
        conf.get_manager()


@pytest.mark.parametrize("old_engine", OLD_ENGINES)
def test_asgi_middleware_takes_over_django_sessions(
    engines: Engines, store_name: str, old_engine: str
) -> None:
    """The generic middleware reads Django's sessions too (Django's settings configured)."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from sessionary import SessionMiddleware

    async def me(request: Request) -> JSONResponse:
        data = await request.session.aload()
        return JSONResponse({"user_id": data.get("_auth_user_id")})

    _, _, old_key = sign_in_on(old_engine)
    user_id = import_module(old_engine).SessionStore(old_key).load()["_auth_user_id"]
    url = engines.settings(store_name)["SESSIONARY_STORE"]
    if store_name == "postgres":
        store = open_store(url)
        store.sync.migrate()  # type: ignore[attr-defined]
        store.close()
    app = Starlette(
        routes=[Route("/me", me)],
        middleware=[Middleware(SessionMiddleware, store=url, takeover=DjangoSessions(old_engine))],
    )
    with TestClient(app, base_url="https://testserver") as browser:
        browser.cookies.set("sessionid", old_key, domain="testserver.local")
        assert browser.get("/me").json() == {"user_id": user_id}
        token = browser.cookies.get("__Host-sessionid")
        assert token != old_key and len(token) == 43
        assert browser.get("/me").json() == {"user_id": user_id}
    with TestClient(app, base_url="https://testserver") as thief:
        thief.cookies.set("sessionid", old_key, domain="testserver.local")
        assert thief.get("/me").json() == {"user_id": None}
    assert not import_module(old_engine).SessionStore().exists(old_key)
