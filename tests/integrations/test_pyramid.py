"""Pyramid: ``request.session`` through sessionary's ``ISession`` factory, driven with
WebTest (real WSGI calls): the shared behaviour, then Pyramid's own session API (flash
queues, the CSRF token and Pyramid's CSRF check, ``invalidate``, ``changed``, ``new``,
``created``) and configuration from ``sessionary.*`` settings."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pyramid.config import Configurator
from pyramid.interfaces import ISession
from pyramid.request import Request
from pyramid.response import Response
from zope.interface.verify import verifyObject

from sessionary import ConfigError, SessionManager, login, logout
from sessionary.integrations.pyramid import PyramidSession, get_manager, settings_from, use_sessionary

from .behaviour import Behaviour, Serve
from .frameworks import Browser, webtest_sender

Views = Callable[[Configurator], None]


def make_app(
    manager: SessionManager | None = None,
    *,
    extra: Views | None = None,
    settings: dict[str, Any] | None = None,
) -> Any:
    with Configurator(settings=settings) as config:
        if manager is not None:
            use_sessionary(config, manager=manager)
        else:
            config.include("sessionary.integrations.pyramid")

        def add(name: str, path: str, view: Callable[[Request], Any], method: str = "GET") -> None:
            config.add_route(name, path)
            config.add_view(view, route_name=name, request_method=method)

        def text(body: object) -> Response:
            return Response(str(body), content_type="text/plain")

        def write(request: Request) -> Response:
            request.session["value"] = "x"
            return text("ok")

        def expiry(request: Request) -> Response:
            request.session["value"] = "x"
            request.session.set_expiry(int(request.matchdict["seconds"]))
            return text("ok")

        def devices(request: Request) -> Response:
            session = request.session
            found = get_manager(request).list_sessions(session.user_id, current=session)
            return text(json.dumps([d.handle for d in found]))

        def ended_elsewhere(request: Request) -> Response:
            session = request.session
            session.load()
            assert get_manager(request).revoke(session.user_id, session.handle)
            session["late"] = "write"
            return text("ok")

        def boom(request: Request) -> Response:
            raise RuntimeError("unrelated")

        add("untouched", "/untouched", lambda request: text("ok"))
        add("read", "/read", lambda request: text(request.session.get("value")))
        add("write", "/write", write, "POST")
        add("expiry", "/expiry/{seconds}", expiry, "POST")
        add(
            "login", "/login/{user}", lambda r: (login(r.session, r.matchdict["user"]), text("in"))[1], "POST"
        )
        add("logout", "/logout", lambda r: (logout(r.session), text("out"))[1], "POST")
        add("devices", "/devices", devices)
        add("ended", "/ended-elsewhere", ended_elsewhere, "POST")
        add("boom", "/boom", boom)
        if extra is not None:
            extra(config)
        return config.make_wsgi_app()


def unhandled_500(app: Any) -> Any:
    """A server's answer to an exception no view caught (WebTest would raise it)."""

    def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
        try:
            return app(environ, start_response)
        except RuntimeError:
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
            return [b"error"]

    return wrapped


class TestPyramid(Behaviour):
    @pytest.fixture
    def serve(self) -> Serve:
        return lambda manager: Browser(webtest_sender(unhandled_500(make_app(manager))))


@pytest.fixture
def manager(store_url: str) -> Iterator[SessionManager]:
    manager = SessionManager(store_url)
    yield manager
    manager.close()


def test_flash_queues_across_requests(manager: SessionManager) -> None:
    def views(config: Configurator) -> None:
        def flash(request: Request) -> Response:
            request.session.flash("saved")
            request.session.flash("saved", allow_duplicate=False)
            request.session.flash("careful", "warn")
            return Response("ok")

        def show(request: Request) -> Response:
            peeked = request.session.peek_flash("warn")
            return Response(
                json.dumps([request.session.pop_flash(), peeked, request.session.pop_flash("warn")])
            )

        config.add_route("flash", "/flash")
        config.add_view(flash, route_name="flash")
        config.add_route("show", "/show")
        config.add_view(show, route_name="show")

    browser = Browser(webtest_sender(make_app(manager, extra=views)))
    browser.get("/flash")
    assert json.loads(browser.get("/show").text) == [["saved"], ["careful"], ["careful"]]
    browser.get("/flash")
    browser.get("/flash")  # onto the queues the first request stored
    twice = [["saved", "saved"], ["careful", "careful"], ["careful", "careful"]]
    assert json.loads(browser.get("/show").text) == twice
    assert json.loads(browser.get("/show").text) == [[], [], []]


def test_pyramids_csrf_check_uses_the_token_in_the_session(manager: SessionManager) -> None:
    def views(config: Configurator) -> None:
        config.set_default_csrf_options(require_csrf=True)
        config.add_route("form", "/form")
        config.add_view(lambda request: Response(request.session.get_csrf_token()), route_name="form")
        config.add_route("submit", "/submit")
        config.add_view(lambda request: Response("accepted"), route_name="submit", request_method="POST")

    browser = Browser(webtest_sender(make_app(manager, extra=views)))
    token = browser.get("/form").text
    assert len(token) == 40 and browser.token is not None
    assert browser.request("POST", "/submit").status == 400  # no token: Pyramid's BadCSRFToken
    assert browser.post("/submit", form={"csrf_token": "0" * 40}).status == 400
    assert browser.post("/submit", form={"csrf_token": token}).text == "accepted"
    assert browser.get("/form").text == token  # the same token for the session's life


def test_invalidate_changed_new_and_created(manager: SessionManager) -> None:
    def views(config: Configurator) -> None:
        def state(request: Request) -> Response:
            session = request.session
            return Response(
                json.dumps({"new": session.new, "created": session.created, "items": dict(session)})
            )

        def append(request: Request) -> Response:
            request.session.setdefault("items", []).append(len(request.session["items"]))
            request.session.changed()  # changed in place: Pyramid's way to have it saved
            return Response("ok")

        def invalidate(request: Request) -> Response:
            request.session.invalidate()
            request.session["after"] = "kept"
            return Response("ok")

        for name, view in [("state", state), ("append", append), ("invalidate", invalidate)]:
            config.add_route(name, f"/{name}")
            config.add_view(view, route_name=name)

    browser = Browser(webtest_sender(make_app(manager, extra=views)))
    assert json.loads(browser.get("/state").text)["new"] is True
    browser.get("/append")
    browser.get("/append")
    first = json.loads(browser.get("/state").text)
    assert first["new"] is False and first["items"] == {"items": [0, 1]}
    old = browser.token
    browser.get("/invalidate")
    assert browser.token not in (None, old)
    after = json.loads(browser.get("/state").text)
    assert after["items"] == {"after": "kept"} and after["created"] >= first["created"]
    assert json.loads(browser.get("/state", token=old).text)["items"] == {}


def test_the_session_conforms_to_isession(manager: SessionManager) -> None:
    session = manager.open(None, session_class=PyramidSession)
    verifyObject(ISession, session)
    session["a"] = 1
    assert session.popitem() == ("a", 1)
    with pytest.raises(KeyError):
        session.popitem()


def test_settings_from_an_ini_file(tmp_path: Path) -> None:
    app = make_app(
        settings={
            "sessionary.store": f"sqlite:///{tmp_path}/ini.db",
            "sessionary.cookie_age": "600",
            "sessionary.cookie_name": "app_session",
            "sessionary.expire_at_browser_close": "false",
            "sessionary.idle_timeout": "none",
            "sessionary.touch_fraction": "0.5",
            "sessionary.secret_keys": "new-key-0123456789 old-key-0123456789",
        }
    )
    browser = Browser(webtest_sender(app), cookie_name="__Host-app_session")
    browser.post("/write")
    assert browser.last_cookie is not None and browser.last_cookie.max_age == 600
    assert browser.get("/read").text == "x"
    assert settings_from({"sessionary.secret_keys": "a b", "sessionary.idle_timeout": "30", "other": 1}) == {
        "secret_keys": ("a", "b"),
        "idle_timeout": 30,
    }


def test_bad_settings_name_the_setting() -> None:
    with pytest.raises(ConfigError, match=r"sessionary\.cookie_agee: not a sessionary setting"):
        settings_from({"sessionary.cookie_agee": "10"})
    with pytest.raises(ConfigError, match=r"sessionary\.cookie_age: 'ten' is not"):
        settings_from({"sessionary.cookie_age": "ten"})
    with Configurator() as config, pytest.raises(TypeError, match="cookie_agee"):
        use_sessionary(config, "memory://", cookie_agee=10)


def test_get_manager_names_the_missing_setup() -> None:
    with Configurator() as config:
        config.add_route("m", "/m")
        config.add_view(lambda request: Response(repr(get_manager(request))), route_name="m")
        app = config.make_wsgi_app()
    import webtest

    with pytest.raises(RuntimeError, match=r"config.include\(\"sessionary.integrations.pyramid\"\)"):
        webtest.TestApp(app).get("/m")
