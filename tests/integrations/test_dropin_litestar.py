"""Switching a Litestar app to sessionary (issue 14): its default test client keeps the
session, the session compares as the dict it was, and ``SessionAuth`` works on sessionary's
session; through Litestar's own ``TestClient``, on every store."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar, Request, get, post
from litestar.connection import ASGIConnection
from litestar.middleware.session.server_side import ServerSideSessionConfig
from litestar.security.session_auth import SessionAuth
from litestar.testing import TestClient

from sessionary.integrations.litestar import SessionaryConfig, SessionaryPlugin


@get("/empty")
async def empty(request: Request[Any, Any, Any]) -> dict[str, bool]:
    return {"equals_empty": request.session == {}, "is_dict": isinstance(request.session, dict)}


@post("/set")
async def set_value(request: Request[Any, Any, Any]) -> None:
    request.session["user"] = "alice"


@get("/read")
async def read(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return {"session": dict(request.session)}


def test_default_test_client_keeps_the_session(store_url: str) -> None:
    app = Litestar([empty, set_value, read], plugins=[SessionaryPlugin(store=store_url)])
    with TestClient(app) as client:
        assert str(client.base_url) == "http://testserver.local"
        assert client.get("/empty").json() == {"equals_empty": True, "is_dict": True}
        assert "Secure" not in client.post("/set").headers["set-cookie"]
        assert client.get("/read").json() == {"session": {"user": "alice"}}
        assert client.get("/empty").json()["equals_empty"] is False


def test_https_and_explicit_secure_keep_secure(store_url: str) -> None:
    app = Litestar([set_value], plugins=[SessionaryPlugin(store=store_url)])
    with TestClient(app, base_url="https://testserver.local") as client:
        assert client.post("/set").headers["set-cookie"].endswith("Secure")
    app = Litestar([set_value], plugins=[SessionaryPlugin(store=store_url, cookie_secure=True)])
    with TestClient(app) as client:
        assert client.post("/set").headers["set-cookie"].endswith("Secure")


async def retrieve_user(session: dict[str, Any], connection: ASGIConnection[Any, Any, Any, Any]) -> Any:
    return {"name": session["user_id"]} if session.get("user_id") else None


@post("/login", exclude_from_auth=True)
async def sign_in(request: Request[Any, Any, Any]) -> None:
    request.set_session({"user_id": "alice"})


@get("/me")
async def me(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return {"user": request.user, "session_type": type(request.session).__name__}


def test_session_auth_works_on_sessionarys_session(store_url: str) -> None:
    sessions = SessionaryConfig(store=store_url)
    auth: SessionAuth[Any, Any] = SessionAuth(
        retrieve_user_handler=retrieve_user,
        session_backend_config=sessions.session_auth_backend,  # type: ignore[arg-type]
        exclude=["/schema"],
    )
    app = Litestar(
        [sign_in, me], on_app_init=[auth.on_app_init], plugins=[SessionaryPlugin(sessionary_config=sessions)]
    )
    with TestClient(app) as client:
        assert client.get("/me").status_code == 401
        reply = client.post("/login")
        assert len(reply.headers.get_list("set-cookie")) == 1  # one cookie: sessionary's
        assert reply.cookies.keys() == {"__Host-sessionid"}
        assert client.get("/me").json() == {"user": {"name": "alice"}, "session_type": "Session"}
        # The data is in sessionary's store: the session lists under its handle there.
        assert sessions.manager.store.sync.count(sessions.manager.now()).live >= 1  # type: ignore[attr-defined]


def test_litestars_own_session_backend_would_add_a_second_cookie(store_url: str) -> None:
    """What the issue saw: Litestar's own backend config installs its own middleware."""
    auth: SessionAuth[Any, Any] = SessionAuth(
        retrieve_user_handler=retrieve_user, session_backend_config=ServerSideSessionConfig()
    )
    app = Litestar([sign_in, me], on_app_init=[auth.on_app_init], plugins=[SessionaryPlugin(store=store_url)])
    with TestClient(app) as client:
        assert len(client.post("/login").headers.get_list("set-cookie")) == 2


def test_session_auth_takes_the_config_as_it_takes_litestars(store_url: str) -> None:
    """The one-line switch, ``ServerSideSessionConfig()`` -> ``SessionaryConfig(...)``, with
    no plugin: ``SessionAuth`` installs sessionary's middleware around its authentication."""
    sessions = SessionaryConfig(store=store_url)
    auth: SessionAuth[Any, Any] = SessionAuth(
        retrieve_user_handler=retrieve_user,
        session_backend_config=sessions,  # type: ignore[arg-type]
        exclude=["/schema"],
    )
    app = Litestar([sign_in, me], on_app_init=[auth.on_app_init])
    with TestClient(app) as client:
        assert client.get("/me").status_code == 401
        reply = client.post("/login")
        assert reply.headers.get_list("set-cookie")[0].startswith("__Host-sessionid=")
        assert len(reply.headers.get_list("set-cookie")) == 1
        assert client.get("/me").json() == {"user": {"name": "alice"}, "session_type": "Session"}
        assert client.options("/me").status_code == 204  # SessionAuth's excluded methods
    assert auth.openapi_components.security_schemes["sessionCookie"].name == "__Host-sessionid"  # type: ignore[union-attr,index]


def test_session_auth_and_the_plugin_on_one_config_make_one_session(store_url: str) -> None:
    sessions = SessionaryConfig(store=store_url)
    auth: SessionAuth[Any, Any] = SessionAuth(
        retrieve_user_handler=retrieve_user,
        session_backend_config=sessions,  # type: ignore[arg-type]
    )
    app = Litestar(
        [sign_in, me], on_app_init=[auth.on_app_init], plugins=[SessionaryPlugin(sessionary_config=sessions)]
    )
    with TestClient(app) as client:
        assert len(client.post("/login").headers.get_list("set-cookie")) == 1
        assert client.get("/me").json()["user"] == {"name": "alice"}
        assert sessions.manager.store.sync.count(sessions.manager.now()).live == 1  # type: ignore[attr-defined]


def test_test_client_session_data_goes_through_sessionary(store_url: str) -> None:
    """Litestar's ``TestClient(session_config=...)``: ``set_session_data`` stores a session
    the app then reads, ``get_session_data`` reads what the app stored."""
    sessions = SessionaryConfig(store=store_url)
    app = Litestar([set_value, read], middleware=[sessions.middleware])
    with TestClient(app, session_config=sessions) as client:  # type: ignore[arg-type]
        assert client.get_session_data() == {}
        client.set_session_data({"user": "bob", "cart": [1, 2]})
        assert client.get("/read").json() == {"session": {"user": "bob", "cart": [1, 2]}}
        client.post("/set")
        assert client.get_session_data() == {"user": "alice", "cart": [1, 2]}
        # The data lives in sessionary's store under a token it issued: no raw id is adopted.
        assert sessions.manager.store.sync.count(sessions.manager.now()).live == 1  # type: ignore[attr-defined]
        client.cookies.set("__Host-sessionid", "chosen-by-the-client", domain="testserver.local")
        assert client.get_session_data() == {}


def test_a_bad_setting_is_litestars_improperly_configured(store_url: str) -> None:
    from litestar.exceptions import ImproperlyConfiguredException

    from sessionary import ConfigError

    for error in (ImproperlyConfiguredException, ConfigError):
        with pytest.raises(error, match=r"^cookie_age: -1 must be a whole number of seconds"):
            SessionaryConfig(store=store_url, cookie_age=-1)
        with pytest.raises(error, match=r"^cookie_name: '' is not a valid cookie name"):
            SessionaryPlugin(store=store_url, cookie_name="")
