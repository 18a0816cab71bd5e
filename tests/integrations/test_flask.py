"""Flask specifics: ``session.permanent``, ``permanent_session_lifetime``, the app factory,
Flask's own test helpers, Flask-Login, and the fail-closed answers (503 / 400)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import flask_login
import pytest
from flask import Flask, flash, get_flashed_messages, session

from sessionary import ConfigError, SessionManager, login, logout
from sessionary.integrations.flask import FlaskSession, Sessionary, get_manager

from .frameworks import Browser, flask_sender


def make_app(extension: Sessionary | None = None, **config: object) -> Flask:
    app = Flask(__name__)
    app.config.update(config)

    @app.get("/set")
    def set_value() -> str:
        session["value"] = "x"
        return "ok"

    @app.get("/get")
    def get_value() -> str:
        return f"{session.get('value')} permanent={session.permanent} new={session.new}"

    @app.get("/permanent/<int:on>")
    def make_permanent(on: int) -> str:
        session.permanent = bool(on)
        session["value"] = "x"
        return "ok"

    @app.get("/type")
    def session_type() -> str:
        return type(session._get_current_object()).__name__  # type: ignore[attr-defined]

    if extension is not None:
        extension.init_app(app)
    return app


def browser(app: Flask) -> Browser:
    return Browser(flask_sender(app), cookie_name=get_manager(app).config.session_cookie_name)


def test_flask_session_is_a_sessionary_session_and_needs_no_secret_key(store_url: str) -> None:
    app = make_app(Sessionary(store=store_url))
    assert app.secret_key is None
    client = browser(app)
    assert client.get("/type").text == "FlaskSession"
    client.get("/set")
    assert client.get("/get").text == "x permanent=False new=False"


def test_not_permanent_by_default_a_browser_session_cookie(store_url: str) -> None:
    client = browser(make_app(Sessionary(store=store_url)))
    client.get("/set")
    assert client.last_cookie is not None
    assert client.last_cookie.max_age is None
    assert "expires" not in client.last_cookie.attributes


def test_permanent_uses_permanent_session_lifetime(store_url: str) -> None:
    app = make_app(PERMANENT_SESSION_LIFETIME=timedelta(hours=2))
    Sessionary(app, store=store_url)
    client = browser(app)
    client.get("/permanent/1")
    assert client.last_cookie is not None and client.last_cookie.max_age == 7200
    assert client.get("/get").text == "x permanent=True new=False"
    client.get("/permanent/0")
    assert client.last_cookie is not None and client.last_cookie.max_age is None
    assert client.get("/get").text == "x permanent=False new=False"


def test_setting_permanent_to_what_it_is_writes_nothing(tmp_path: Path) -> None:
    app = make_app()
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False  # else the cookie slides (its own test)

    @app.get("/touch-permanent")
    def touch_permanent() -> str:
        session.permanent = True
        return f"modified={session.modified}"

    Sessionary(app, store=f"sqlite:///{tmp_path}/s.db")
    client = browser(app)
    client.get("/permanent/1")
    reply = client.get("/touch-permanent")
    assert reply.text == "modified=False"
    assert reply.set_cookies == []


def test_new_is_true_only_without_a_live_session(store_url: str) -> None:
    client = browser(make_app(Sessionary(store=store_url)))
    assert client.get("/get").text == "None permanent=False new=True"
    client.get("/set")
    assert client.get("/get").text.endswith("new=False")


def test_settings_from_app_config_and_keywords(tmp_path: Path) -> None:
    app = make_app(
        SESSIONARY_STORE=f"sqlite:///{tmp_path}/config.db",
        SESSIONARY_COOKIE_NAME="app_session",
        SESSIONARY_EXPIRE_AT_BROWSER_CLOSE=False,
    )
    Sessionary(app, cookie_samesite="Strict")
    manager = get_manager(app)
    assert manager.store.name.endswith("config.db")
    assert manager.config.cookie_name == "app_session"
    assert manager.config.cookie_samesite == "Strict"
    client = browser(app)
    client.get("/set")
    cookie = client.last_cookie
    assert cookie is not None and cookie.name == "__Host-app_session"
    # Persistent by configuration; the age is Flask's permanent_session_lifetime (31 days),
    # cut to what the server keeps: the 30-day absolute timeout.
    assert cookie.max_age == 30 * 24 * 3600
    assert cookie.attributes["samesite"] == "Strict"


def test_unknown_setting_is_refused() -> None:
    with pytest.raises(TypeError, match="cookie_agee"):
        Sessionary(cookie_agee=10)


def test_one_extension_serves_an_app_factory(tmp_path: Path) -> None:
    sessions = Sessionary()

    def create_app(name: str) -> Flask:
        return make_app(sessions, SESSIONARY_STORE=f"sqlite:///{tmp_path}/{name}.db")

    first, second = create_app("first"), create_app("second")
    assert get_manager(first) is not get_manager(second)
    one, two = browser(first), browser(second)
    one.get("/set")
    # The second app's store knows nothing of the first app's session.
    assert two.get("/get", token=one.token).text.startswith("None")
    with first.test_request_context():
        assert sessions.manager is get_manager(first)


def test_flask_session_transaction_and_flash(store_url: str) -> None:
    app = make_app(Sessionary(store=store_url))

    @app.get("/flash")
    def flash_message() -> str:
        flash("saved")
        return "ok"

    @app.get("/messages")
    def messages() -> str:
        return ",".join(get_flashed_messages())

    client = app.test_client()  # Flask's own cookie handling this time
    with client.session_transaction(base_url="https://localhost") as prepared:
        assert isinstance(prepared, FlaskSession)
        prepared["value"] = "prepared"
    assert client.get("/get", base_url="https://localhost").get_data(as_text=True).startswith("prepared")
    client.get("/flash", base_url="https://localhost")
    assert client.get("/messages", base_url="https://localhost").get_data(as_text=True) == "saved"
    assert client.get("/messages", base_url="https://localhost").get_data(as_text=True) == ""


# --- Flask-Login -------------------------------------------------------------------------


class User(flask_login.UserMixin):
    def __init__(self, user_id: str) -> None:
        self.id = user_id


def flask_login_app(store_url: str) -> Flask:
    app = make_app(Sessionary(store=store_url))
    login_manager = flask_login.LoginManager(app)
    login_manager.user_loader(User)

    @app.post("/login/<user_id>")
    def sign_in(user_id: str) -> str:
        flask_login.login_user(User(user_id))
        login(session, user_id)  # new token, and the session joins the user's list
        return "in"

    @app.get("/me")
    @flask_login.login_required
    def me() -> str:
        return str(flask_login.current_user.id)

    @app.post("/logout")
    def sign_out() -> str:
        flask_login.logout_user()
        logout(session)
        return "out"

    return app


def test_flask_login_with_sessionary_login_and_logout(store_url: str, user_id: str) -> None:
    app = flask_login_app(store_url)
    client = browser(app)
    assert client.get("/me").status == 401
    client.get("/set")
    anonymous = client.token
    client.post(f"/login/{user_id}")
    assert client.token not in (None, anonymous)
    assert client.get("/me").text == user_id
    assert client.get("/me", token=anonymous).status == 401  # the pre-login token opens nothing
    assert len(get_manager(app).list_sessions(user_id)) == 1
    signed_in = client.token
    reply = client.post("/logout")
    assert client.last_cookie is not None and client.last_cookie.deletes
    assert reply.header("clear-site-data") == '"cookies"'
    assert client.get("/me", token=signed_in).status == 401
    assert get_manager(app).list_sessions(user_id) == []


# --- failing closed ----------------------------------------------------------------------


def test_a_store_that_cannot_be_opened_answers_503_and_sets_no_cookie(tmp_path: Path) -> None:
    app = make_app(Sessionary(store=f"sqlite:///{tmp_path}/missing-directory/sessions.db"))
    client = browser(app)
    reply = client.get("/set")
    assert reply.status == 503
    assert reply.header("retry-after") == "5"
    assert reply.set_cookies == []
    assert "unavailable" in reply.text


def test_a_corrupted_record_answers_503_when_read(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    app = make_app(Sessionary(store=f"sqlite:///{path}"))
    client = browser(app)
    client.get("/set")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE sessionary_sessions SET data = 'not json'")
    reply = client.get("/get")
    assert reply.status == 503
    assert reply.set_cookies == []


def test_a_session_deleted_during_the_request_answers_400(store_url: str, user_id: str) -> None:
    app = make_app(Sessionary(store=store_url))

    @app.post("/login")
    def sign_in() -> str:
        login(session, user_id)
        return "in"

    @app.post("/signed-out-elsewhere")
    def signed_out_elsewhere() -> str:
        session.load()  # this request has read its session...
        assert session.handle is not None
        # ...when another request (another device) ends it while this one runs,
        assert get_manager().revoke(user_id, session.handle)
        session["late"] = "write"  # so this write must not bring it back.
        return "ok"

    client = browser(app)
    client.post("/login")
    reply = client.post("/signed-out-elsewhere")
    assert reply.status == 400
    assert reply.set_cookies == []
    assert get_manager(app).list_sessions(user_id) == []


def test_manager_given_directly_is_used(tmp_path: Path) -> None:
    manager = SessionManager(f"sqlite:///{tmp_path}/given.db", cookie_name="given")
    app = make_app(Sessionary(manager=manager))
    assert get_manager(app) is manager
    client = browser(app)
    client.get("/set")
    assert client.last_cookie is not None and client.last_cookie.name == "__Host-given"


def test_flasks_own_cookie_settings_are_honoured_when_changed(tmp_path: Path) -> None:
    app = make_app(
        SESSION_COOKIE_NAME="shop_session",
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_PATH="/",
        SESSION_COOKIE_SECURE=False,  # Flask's default: sessionary's secure default stays
    )
    Sessionary(app, store=f"sqlite:///{tmp_path}/s.db")
    config = get_manager(app).config
    assert (config.cookie_name, config.cookie_samesite, config.cookie_secure) == (
        "shop_session",
        "Strict",
        True,
    )
    second = make_app(SESSION_COOKIE_NAME="shop_session", SESSIONARY_COOKIE_NAME="wins")
    Sessionary(second, store=f"sqlite:///{tmp_path}/s.db")
    assert get_manager(second).config.cookie_name == "wins"


def test_a_partitioned_cookie_needs_secure(tmp_path: Path) -> None:
    app = make_app(SESSION_COOKIE_PARTITIONED=True, SESSIONARY_COOKIE_SECURE=False)
    with pytest.raises(ConfigError, match="cookie_partitioned"):
        Sessionary(app, store=f"sqlite:///{tmp_path}/s.db")


def test_truthiness_is_having_data_as_for_flasks_own_session(tmp_path: Path) -> None:
    app = make_app(Sessionary(store=f"sqlite:///{tmp_path}/s.db"))

    @app.get("/truthy")
    def truthy() -> str:
        return str(bool(session))

    client = browser(app)
    assert client.get("/truthy").text == "False"
    stale = "A" * 43  # shaped like a token, but the server never issued it
    assert client.get("/truthy", token=stale).text == "False"
    client.get("/set")
    assert client.get("/truthy").text == "True"
