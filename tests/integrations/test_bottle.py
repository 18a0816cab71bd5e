"""Bottle: ``request.session`` through sessionary's plugin, driven with WebTest (real WSGI
calls): the shared behaviour, then Bottle's own ways of answering (a returned or raised
``HTTPResponse``, ``redirect``, ``abort``) and opting a route out with ``skip``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from bottle import Bottle, HTTPResponse, abort, redirect, request

from sessionary import SessionManager, login, logout
from sessionary.integrations.bottle import SessionPlugin

from .behaviour import Behaviour, Serve
from .frameworks import Browser, webtest_sender


def make_app(manager: SessionManager) -> tuple[Bottle, SessionPlugin]:
    app = Bottle()
    plugin = app.install(SessionPlugin(manager=manager))

    @app.get("/untouched")
    def untouched() -> str:
        return "ok"

    @app.get("/read")
    def read() -> str:
        return str(request.session.get("value"))

    @app.post("/write")
    def write() -> str:
        request.session["value"] = "x"
        return "ok"

    @app.post("/expiry/<seconds:int>")
    def expiry(seconds: int) -> str:
        request.session["value"] = "x"
        request.session.set_expiry(seconds)
        return "ok"

    @app.post("/login/<user>")
    def sign_in(user: str) -> str:
        login(request.session, user)
        return "in"

    @app.post("/logout")
    def sign_out() -> str:
        logout(request.session)
        return "out"

    @app.get("/devices")
    def devices() -> str:
        session = request.session
        return json.dumps([d.handle for d in plugin.manager.list_sessions(session.user_id, current=session)])

    @app.post("/ended-elsewhere")
    def ended_elsewhere() -> str:
        session = request.session
        session.load()
        assert plugin.manager.revoke(session.user_id, session.handle)
        session["late"] = "write"
        return "ok"

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("unrelated")

    return app, plugin


class TestBottle(Behaviour):
    @pytest.fixture
    def serve(self) -> Serve:
        return lambda manager: Browser(webtest_sender(make_app(manager)[0]))


@pytest.fixture
def manager(store_url: str) -> Any:
    manager = SessionManager(store_url)
    yield manager
    manager.close()


def test_returned_raised_and_redirect_responses_carry_the_cookie(manager: SessionManager) -> None:
    app, _ = make_app(manager)

    @app.post("/returned")
    def returned() -> HTTPResponse:
        request.session["value"] = "returned"
        return HTTPResponse("made", 201, {"Vary": "Accept-Encoding"})

    @app.post("/redirected")
    def redirected() -> None:
        request.session["value"] = "redirected"
        redirect("/read")

    @app.post("/aborted")
    def aborted() -> None:
        request.session["value"] = "aborted"
        abort(403, "no")

    browser = Browser(webtest_sender(app))
    reply = browser.post("/returned")
    assert (reply.status, reply.text) == (201, "made")
    assert reply.header("vary") == "Accept-Encoding, Cookie"
    assert browser.get("/read").text == "returned"
    reply = browser.post("/redirected")
    assert reply.status in (302, 303) and reply.set_cookies  # saved, its cookie on the redirect
    assert browser.get("/read").text == "redirected"
    assert browser.post("/aborted").status == 403
    assert browser.get("/read").text == "aborted"  # a 4xx saves, as in Django


def test_a_skipped_route_has_no_session(manager: SessionManager) -> None:
    app, _ = make_app(manager)

    @app.get("/static", skip=["sessionary"])
    def static() -> str:
        return str(getattr(request, "session", "no session"))

    browser = Browser(webtest_sender(app))
    browser.post("/write")
    assert browser.get("/static").text == "no session"


def test_one_plugin_per_app(tmp_path: Path) -> None:
    app = Bottle()
    app.install(SessionPlugin(f"sqlite:///{tmp_path}/a.db"))
    with pytest.raises(RuntimeError, match="already installed"):
        app.install(SessionPlugin(f"sqlite:///{tmp_path}/b.db"))
