"""Switching a Flask app to sessionary changes nothing it relied on (issue 14, Flask items):
through Flask's own test client (which keeps cookies as a browser would), on every store."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import flask_login
from flask import Flask, flash, get_flashed_messages, redirect, render_template_string, session
from markupsafe import Markup

from sessionary import logout
from sessionary.integrations.flask import Sessionary

THIRTY_DAYS = 30 * 24 * 3600


def make_app(store_url: str, **config: object) -> Flask:
    app = Flask(__name__)
    app.config.update(config)

    @app.get("/set")
    def set_value() -> str:
        session["value"] = "x"
        return "ok"

    @app.get("/read")
    def read() -> str:
        return str(session.get("value"))

    @app.get("/permanent")
    def permanent() -> str:
        session.permanent = True
        session["value"] = "x"
        return "ok"

    Sessionary(app, store=store_url)
    return app


def session_cookie_header(response: object) -> str:
    headers = [v for k, v in response.headers.items() if k == "Set-Cookie"]  # type: ignore[attr-defined]
    assert len(headers) == 1, headers
    return headers[0]


def test_application_root_is_the_cookie_path(store_url: str) -> None:
    app = make_app(store_url, APPLICATION_ROOT="/foo")
    client = app.test_client()
    header = session_cookie_header(client.get("/set", base_url="http://localhost/foo"))
    assert "Path=/foo" in header
    assert client.get("/read", base_url="http://localhost/foo").text == "x"
    # Another app under /bar on the same host does not receive /foo's cookie. (A path other
    # than / rules __Host- out: the automatic prefix is __Secure-.)
    assert client.get_cookie("__Secure-sessionid", path="/foo") is not None
    assert client.get_cookie("__Secure-sessionid", path="/") is None


def test_session_cookie_path_wins_over_application_root(store_url: str) -> None:
    app = make_app(store_url, APPLICATION_ROOT="/foo", SESSION_COOKIE_PATH="/")
    assert "Path=/;" in session_cookie_header(app.test_client().get("/set"))


def test_flask_tagged_values_round_trip(store_url: str) -> None:
    app = make_app(store_url)
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    ident = uuid.uuid4()

    @app.get("/store")
    def store() -> str:
        session["markup"] = Markup("<b>bold</b>")
        session["tuple"] = (1, 2, (3, "x"))
        session["bytes"] = b"\x00\xff"
        session["moment"] = moment
        session["uuid"] = ident
        session["nested"] = {"t": (1,), " t": "a key that looks like a tag"}
        return "ok"

    @app.get("/types")
    def types() -> str:
        assert session["markup"] == Markup("<b>bold</b>") and isinstance(session["markup"], Markup)
        assert session["tuple"] == (1, 2, (3, "x"))
        assert session["bytes"] == b"\x00\xff"
        assert session["moment"] == moment
        assert session["uuid"] == ident
        assert session["nested"] == {"t": (1,), " t": "a key that looks like a tag"}
        return "same"

    client = app.test_client()
    client.get("/store")
    assert client.get("/types").text == "same"


def test_flash_markup_survives_a_redirect(store_url: str) -> None:
    app = make_app(store_url)

    @app.get("/flash")
    def flash_it() -> object:
        flash(Markup("<em>saved</em>"))
        return redirect("/show")

    @app.get("/show")
    def show() -> str:
        return render_template_string(
            "{% for m in messages %}{{ m }}{% endfor %}", messages=get_flashed_messages()
        )

    client = app.test_client()
    assert client.get("/flash", follow_redirects=True).text == "<em>saved</em>"


def test_cookie_settings_are_read_per_request(store_url: str) -> None:
    app = make_app(store_url)
    client = app.test_client()
    assert "Domain" not in session_cookie_header(client.get("/set"))
    app.config["SESSION_COOKIE_DOMAIN"] = ".example.com"
    app.config["SESSION_COOKIE_SAMESITE"] = "Strict"
    header = session_cookie_header(client.get("/set", base_url="http://www.example.com"))
    assert "Domain=example.com;" in header  # Flask strips the leading dot, and so does sessionary
    assert "SameSite=Strict" in header
    # Werkzeug's client keeps the cookie (a leading dot would make it drop it).
    assert client.get("/read", base_url="http://www.example.com").text == "x"


def test_partitioned_cookie(store_url: str) -> None:
    app = make_app(store_url, SESSION_COOKIE_PARTITIONED=True)
    header = session_cookie_header(app.test_client().get("/set"))
    assert "Partitioned" in header and "Secure" in header


def test_refresh_each_request_slides_a_permanent_session(store_url: str) -> None:
    app = make_app(store_url, PERMANENT_SESSION_LIFETIME=timedelta(hours=1))
    client = app.test_client()
    client.get("/permanent")
    refreshed = client.get("/read")
    assert refreshed.text == "x"
    # The cookie is sent again, for what the server keeps: it slides the stored deadline
    # once that gains a quarter of the remaining time (touch_fraction), not every second.
    age = int(session_cookie_header(refreshed).split("Max-Age=")[1].split(";")[0])
    assert 3590 <= age <= 3600
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    assert [k for k, _ in client.get("/read").headers.items() if k == "Set-Cookie"] == []


def test_refresh_each_request_leaves_a_browser_session_alone(store_url: str) -> None:
    client = make_app(store_url).test_client()
    client.get("/set")
    assert [k for k, _ in client.get("/read").headers.items() if k == "Set-Cookie"] == []


def test_the_cookie_never_outlives_the_server_side_session(store_url: str) -> None:
    # Flask's default permanent lifetime is 31 days; sessionary's absolute timeout is 30.
    app = make_app(store_url)
    header = session_cookie_header(app.test_client().get("/permanent"))
    assert f"Max-Age={THIRTY_DAYS};" in header


def test_flask_login_logout_recipe_really_signs_out(store_url: str) -> None:
    app = make_app(store_url, SECRET_KEY="for Flask-Login's remember cookie only")
    manager = flask_login.LoginManager(app)

    class User(flask_login.UserMixin):
        def __init__(self, user_id: str) -> None:
            self.id = user_id

    manager.user_loader(User)

    @app.get("/login")
    def sign_in() -> str:
        flask_login.login_user(User("alice"), remember=True)
        return "in"

    @app.get("/whoami")
    def whoami() -> str:
        user = flask_login.current_user
        return str(user.id) if user.is_authenticated else "anonymous"

    @app.get("/logout")
    def sign_out() -> str:
        flask_login.logout_user()
        logout(session)  # the documented recipe
        return "out"

    client = app.test_client()
    client.get("/login")
    assert client.get_cookie("remember_token") is not None
    assert client.get("/whoami").text == "alice"
    client.get("/logout")
    assert client.get_cookie("remember_token") is None  # Flask-Login cleared it
    assert client.get("/whoami").text == "anonymous"
    assert client.get_cookie("sessionid") is None  # and nothing was stored for the flag
