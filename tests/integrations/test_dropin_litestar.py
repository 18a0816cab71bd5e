"""Switching a Litestar app to sessionary (issue 14): its default test client keeps the
session, the session compares as the dict it was, and ``SessionAuth`` works on sessionary's
session; through Litestar's own ``TestClient``, on every store."""

from __future__ import annotations

from typing import Any

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
