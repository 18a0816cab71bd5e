"""Switching without signing anyone out: the old library signs a user in, the same app
then runs on sessionary with ``takeover=``, and the user is still signed in.

Every old session here is written by the real peer library (starsessions, Starlette's
``SessionMiddleware``, Flask's cookie session, Flask-Session on Redis and SQLAlchemy),
never by a hand-made imitation of its format. Each source is checked for: the same data
after the switch under a new sessionary token, the old record or cookie dead afterwards
(a replay opens nothing), an expired old session not revived, and a forged or unknown
old cookie refused. The new sessions live in every store this tree has.
"""

from __future__ import annotations

import json
import logging
import secrets
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sessionary.takeover import FlaskCookie, FlaskSessionRedis, FlaskSessionSQL, StarletteCookie, Starsessions
from support.services import REDIS_HOST, REDIS_PORT, REDIS_URL, free_port, require_port

SECRET = "an old secret key, long enough for anyone"


@pytest.fixture
def old_prefix() -> Iterator[str]:
    """A Redis key prefix of the old library's own, deleted afterwards (never a flush)."""
    import redis

    require_port("Redis", REDIS_HOST, REDIS_PORT)
    prefix = f"sessionary-test-takeover-{secrets.token_hex(6)}:"
    yield prefix
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT)
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


def old_keys(prefix: str) -> list[bytes]:
    import redis

    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT)
    try:
        return list(client.scan_iter(match=f"{prefix}*"))
    finally:
        client.close()


SIGNED_IN = {"user": "ann", "cart": [1, 2]}
ANONYMOUS = {"user": None, "cart": None}


class Browser:
    """One browser against one app: ``get(path)`` returns the JSON the view shows."""

    def __init__(
        self,
        get: Callable[[str], Any],
        cookies: Callable[[], dict[str, str]],
        set_cookie: Callable[[str, str], None],
        clear: Callable[[], None],
    ) -> None:
        self.get = get
        self.cookies = cookies
        self.set_cookie = set_cookie
        self.clear = clear


def check_switch(
    new: Callable[[], Browser], old_name: str, old_value: str, *, new_name: str = "__Host-sessionid"
) -> None:
    """The old cookie alone opens the user's session under sessionary, once."""
    browser = new()
    browser.set_cookie(old_name, old_value)
    assert browser.get("/me") == SIGNED_IN
    token = browser.cookies().get(new_name)
    assert token and token != old_value, "the take-over issues a new sessionary token"
    if old_name != new_name:
        assert old_name not in browser.cookies(), "the response deletes the old cookie"
    # The next request carries the new token (and, when the names differ, the dead old cookie).
    assert browser.get("/me") == SIGNED_IN
    assert browser.cookies().get(new_name) == token
    browser.clear()
    browser.set_cookie(new_name, token)
    assert browser.get("/me") == SIGNED_IN, "the taken-over session is a sessionary session"
    # A stolen copy of the old cookie, replayed after the take-over, opens nothing.
    thief = new()
    thief.set_cookie(old_name, old_value)
    assert thief.get("/me") == ANONYMOUS


def check_refused(new: Callable[[], Browser], old_name: str, old_value: str) -> None:
    browser = new()
    browser.set_cookie(old_name, old_value)
    assert browser.get("/me") == ANONYMOUS
    assert "__Host-sessionid" not in browser.cookies()
    assert old_name not in browser.cookies(), "a refused old cookie is deleted"


# --- Starlette: starsessions on Redis, and Starlette's signed cookie ----------------------


def starlette_routes() -> list[Any]:
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route

    async def login(request: Request) -> PlainTextResponse:
        request.session["user"] = request.query_params["name"]
        request.session["cart"] = [1, 2]
        return PlainTextResponse("signed in")

    async def me(request: Request) -> JSONResponse:
        return JSONResponse({"user": request.session.get("user"), "cart": request.session.get("cart")})

    return [Route("/login", login), Route("/me", me)]


def starlette_browser(client: Any) -> Browser:
    """A browser of its own (its own cookie jar) on the app's one test client, so that
    every browser shares the app's event loop, as a real server's clients do."""
    import httpx

    jar = {"cookies": httpx.Cookies()}

    def get(path: str) -> Any:
        client.cookies = jar["cookies"]
        answer = client.get(path)
        jar["cookies"] = client.cookies
        return answer.json()

    return Browser(
        get,
        lambda: {cookie.name: cookie.value for cookie in jar["cookies"].jar if cookie.value},
        lambda name, value: jar["cookies"].set(name, value, domain="testserver.local"),
        lambda: jar["cookies"].clear(),
    )


def starlette_sign_in(app: Any, cookie_name: str) -> str:
    from starlette.testclient import TestClient

    with TestClient(app, base_url="https://testserver") as client:
        assert client.get("/login?name=ann").text == "signed in"
        assert client.get("/me").json() == SIGNED_IN
        value = client.cookies.get(cookie_name)
    assert value
    return value


def sessionary_starlette(store_url: str, source: Any, stack: Any, **settings: Any) -> Callable[[], Browser]:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware

    from sessionary import SessionMiddleware

    app = Starlette(
        routes=starlette_routes(),
        middleware=[Middleware(SessionMiddleware, store=store_url, takeover=source, **settings)],
    )
    from starlette.testclient import TestClient

    client = stack.enter_context(TestClient(app, base_url="https://testserver"))
    return lambda: starlette_browser(client)


def starsessions_app(prefix: str, lifetime: int = 3600) -> Any:
    import redis.asyncio
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starsessions import SessionAutoloadMiddleware, SessionMiddleware
    from starsessions.stores.redis import RedisStore

    store = RedisStore(connection=redis.asyncio.Redis.from_url(REDIS_URL), prefix=prefix)
    return Starlette(
        routes=starlette_routes(),
        middleware=[
            Middleware(SessionMiddleware, store=store, lifetime=lifetime),
            Middleware(SessionAutoloadMiddleware),
        ],
    )


@pytest.mark.parametrize("new_name", ["__Host-sessionid", "session"])
def test_starsessions_user_stays_signed_in(
    store_url: str, old_prefix: str, exit_stack: Any, new_name: str
) -> None:
    value = starlette_sign_in(starsessions_app(old_prefix), "session")
    assert old_keys(old_prefix) == [f"{old_prefix}{value}".encode()]
    source = Starsessions(REDIS_URL, prefix=old_prefix)
    # Keeping the old cookie's exact name needs the bare name (no __Host- prefix).
    exact = {"cookie_host_prefix": False} if new_name == "session" else {}
    new = sessionary_starlette(store_url, source, exit_stack, cookie_name=new_name, **exact)
    check_switch(new, "session", value, new_name=new_name)
    assert old_keys(old_prefix) == [], "the old record is deleted at the take-over"


def test_starsessions_expired_and_unknown(store_url: str, old_prefix: str, exit_stack: Any) -> None:
    value = starlette_sign_in(starsessions_app(old_prefix, lifetime=2), "session")
    new = sessionary_starlette(store_url, Starsessions(REDIS_URL, prefix=old_prefix), exit_stack)
    check_refused(new, "session", secrets.token_hex(16))  # never issued
    check_refused(new, "session", "../" + value)  # not an id at all
    time.sleep(2.2)  # starsessions' own TTL runs out
    check_refused(new, "session", value)


def starlette_cookie_app(max_age: int | None = 14 * 24 * 3600) -> Any:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.sessions import SessionMiddleware

    return Starlette(
        routes=starlette_routes(),
        middleware=[Middleware(SessionMiddleware, secret_key=SECRET, max_age=max_age)],
    )


@pytest.mark.parametrize("preload", [False, True], ids=["lazy", "preload"])
def test_starlette_cookie_user_stays_signed_in(store_url: str, exit_stack: Any, preload: bool) -> None:
    """``preload`` reads the old session through the async face (a worker thread)."""
    value = starlette_sign_in(starlette_cookie_app(), "session")
    new = sessionary_starlette(store_url, StarletteCookie(SECRET), exit_stack, preload=preload)
    check_switch(new, "session", value)


def test_starlette_cookie_forged_expired_and_other_key(store_url: str, exit_stack: Any) -> None:
    value = starlette_sign_in(starlette_cookie_app(max_age=1), "session")
    new = sessionary_starlette(store_url, StarletteCookie(SECRET, max_age=1), exit_stack)
    payload, timestamp, signature = value.rsplit(".", 2)
    check_refused(new, "session", f"{payload}A.{timestamp}.{signature}")  # data changed
    check_refused(new, "session", "not a signed cookie")
    other = sessionary_starlette(
        store_url, StarletteCookie("another secret key entirely", max_age=1), exit_stack
    )
    check_refused(other, "session", value)
    time.sleep(2.1)  # past max_age (itsdangerous counts whole seconds)
    check_refused(new, "session", value)


# --- Flask: its signed cookie, and Flask-Session on Redis and SQLAlchemy -----------------


def flask_views(app: Any) -> None:
    from flask import request, session

    @app.get("/login")
    def login() -> str:
        session["user"] = request.args["name"]
        session["cart"] = [1, 2]
        if "when" in request.args:
            session["when"] = datetime(2026, 1, 2, tzinfo=UTC)  # Flask's tagged JSON keeps it
        return "signed in"

    @app.get("/me")
    def me() -> dict[str, Any]:
        return {"user": session.get("user"), "cart": session.get("cart")}


def flask_sign_in(app: Any, query: str = "") -> str:
    client = app.test_client()
    assert client.get("/login?name=ann" + query).text == "signed in"
    assert client.get("/me").json == SIGNED_IN
    cookie = client.get_cookie("session")
    assert cookie is not None
    return str(cookie.value)


def flask_browser(app: Any) -> Browser:
    client = app.test_client()
    return Browser(
        lambda path: client.get(path, base_url="https://localhost").json,
        lambda: {c.key: c.value for c in client._cookies.values()},
        lambda name, value: client.set_cookie(name, value, domain="localhost"),
        lambda: client._cookies.clear(),
    )


def sessionary_flask(store_url: str, source: Any) -> Callable[[], Browser]:
    from flask import Flask

    from sessionary.integrations.flask import Sessionary

    app = Flask(__name__)
    flask_views(app)
    Sessionary(app, store=store_url, takeover=source, expire_at_browser_close=False)
    return lambda: flask_browser(app)


def flask_cookie_app(lifetime: int = 3600) -> Any:
    from flask import Flask

    app = Flask(__name__)
    app.config.update(SECRET_KEY=SECRET, PERMANENT_SESSION_LIFETIME=lifetime)
    flask_views(app)
    return app


def test_flask_cookie_user_stays_signed_in(store_url: str) -> None:
    value = flask_sign_in(flask_cookie_app())
    check_switch(sessionary_flask(store_url, FlaskCookie(SECRET, lifetime=3600)), "session", value)


def test_flask_cookie_forged_and_expired(store_url: str) -> None:
    value = flask_sign_in(flask_cookie_app(lifetime=1))
    new = sessionary_flask(store_url, FlaskCookie(SECRET, lifetime=1))
    check_refused(new, "session", value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
    check_refused(sessionary_flask(store_url, FlaskCookie("another secret key entirely")), "session", value)
    time.sleep(2.1)
    check_refused(new, "session", value)


def test_flask_cookie_value_json_cannot_hold_is_reported_by_key(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    value = flask_sign_in(flask_cookie_app(), "&when=1")
    new = sessionary_flask(store_url, FlaskCookie(SECRET, lifetime=3600))
    with caplog.at_level(logging.WARNING, logger="sessionary"):
        check_switch(new, "session", value)
    reports = [r.getMessage() for r in caplog.records if "cannot be stored" in r.getMessage()]
    assert len(reports) == 1 and "'when'" in reports[0] and "datetime" in reports[0]


def flask_session_redis_app(prefix: str, *, signer: bool, lifetime: int = 3600) -> Any:
    import redis
    from flask import Flask
    from flask_session import Session

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=SECRET,
        SESSION_TYPE="redis",
        SESSION_REDIS=redis.Redis.from_url(REDIS_URL),
        SESSION_KEY_PREFIX=prefix,
        SESSION_USE_SIGNER=signer,
        PERMANENT_SESSION_LIFETIME=lifetime,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The 'use_signer' option is deprecated", DeprecationWarning)
        Session(app)
    flask_views(app)
    return app


@pytest.mark.parametrize("signer", [False, True], ids=["unsigned", "signed"])
def test_flask_session_redis_user_stays_signed_in(store_url: str, old_prefix: str, signer: bool) -> None:
    value = flask_sign_in(flask_session_redis_app(old_prefix, signer=signer))
    assert len(old_keys(old_prefix)) == 1
    source = FlaskSessionRedis(REDIS_URL, key_prefix=old_prefix, secret_key=SECRET if signer else None)
    check_switch(sessionary_flask(store_url, source), "session", value)
    assert old_keys(old_prefix) == [], "the old record is deleted at the take-over"


def test_flask_session_redis_forged_and_expired(store_url: str, old_prefix: str) -> None:
    value = flask_sign_in(flask_session_redis_app(old_prefix, signer=True, lifetime=1))
    new = sessionary_flask(store_url, FlaskSessionRedis(REDIS_URL, key_prefix=old_prefix, secret_key=SECRET))
    sid = value.rsplit(".", 1)[0]
    check_refused(new, "session", sid)  # the bare id, without the signature the app demands
    check_refused(new, "session", sid + ".forgedsignature")
    time.sleep(1.2)
    check_refused(new, "session", value)


def flask_session_sql_app(url: str, *, lifetime: int = 3600, signer: bool = False) -> Any:
    from flask import Flask
    from flask_session import Session
    from flask_sqlalchemy import SQLAlchemy

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=SECRET,
        SESSION_TYPE="sqlalchemy",
        SQLALCHEMY_DATABASE_URI=url,
        SESSION_USE_SIGNER=signer,
        PERMANENT_SESSION_LIFETIME=lifetime,
    )
    app.config["SESSION_SQLALCHEMY"] = SQLAlchemy(app)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The 'use_signer' option is deprecated", DeprecationWarning)
        Session(app)
    flask_views(app)
    return app


def sql_rows(url: str) -> int:
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    with engine.connect() as connection:
        count = connection.execute(sqlalchemy.text("SELECT count(*) FROM sessions")).scalar_one()
    engine.dispose()
    return int(count)


@pytest.mark.parametrize("signer", [False, True], ids=["unsigned", "signed"])
def test_flask_session_sql_user_stays_signed_in(store_url: str, tmp_path: Path, signer: bool) -> None:
    old_url = f"sqlite:///{tmp_path}/flask-session.db"
    value = flask_sign_in(flask_session_sql_app(old_url, signer=signer))
    assert sql_rows(old_url) == 1
    source = FlaskSessionSQL(old_url, secret_key=SECRET if signer else None)
    check_switch(sessionary_flask(store_url, source), "session", value)
    assert sql_rows(old_url) == 0, "the old row is deleted at the take-over"


def test_flask_session_sql_expired_and_unknown(store_url: str, tmp_path: Path) -> None:
    old_url = f"sqlite:///{tmp_path}/flask-session.db"
    value = flask_sign_in(flask_session_sql_app(old_url, lifetime=1))
    new = sessionary_flask(store_url, FlaskSessionSQL(old_url))
    check_refused(new, "session", secrets.token_urlsafe(32))
    time.sleep(1.2)
    check_refused(new, "session", value)


# --- the bulk form: `sessionary import --from flask-session` ------------------------------

COMMAND = Path(sys.executable).with_name("sessionary")


def flask_sign_in_many(app: Any, names: list[str]) -> dict[str, str]:
    cookies = {}
    for name in names:
        client = app.test_client()
        client.get(f"/login?name={name}")
        cookie = client.get_cookie("session")
        assert cookie is not None
        cookies[name] = str(cookie.value)
    return cookies


def sessionary_flask_plain(store_url: str) -> Any:
    """The switched app for bulk-moved sessions: no take-over, Flask-Session's cookie name."""
    from flask import Flask

    from sessionary.integrations.flask import Sessionary

    app = Flask(__name__)
    flask_views(app)
    Sessionary(
        app, store=store_url, cookie_name="session", cookie_host_prefix=False, expire_at_browser_close=False
    )
    return app


def signed_in_as(app: Any, cookie: str) -> Any:
    client = app.test_client()
    client.set_cookie("session", cookie, domain="localhost")
    return client.get("/me", base_url="https://localhost").json["user"]


def test_import_moves_flask_session_redis_records(store_url: str, old_prefix: str) -> None:
    names = ["ann", "bob", "cy"]
    cookies = flask_sign_in_many(flask_session_redis_app(old_prefix, signer=False), names)
    assert len(old_keys(old_prefix)) == 3
    arguments = ["import", "--from", "flask-session", "--store", store_url]
    arguments += ["--old-redis", REDIS_URL, "--key-prefix", old_prefix, "--batch-size", "2"]
    result = subprocess.run(
        [str(COMMAND), *arguments], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "Moved 3 sessions" in result.stdout
    assert "read 3 sessions, moved 3" in result.stderr  # the progress line
    assert old_keys(old_prefix) == []
    app = sessionary_flask_plain(store_url)
    assert {name: signed_in_as(app, cookies[name]) for name in names} == {name: name for name in names}
    again = subprocess.run(
        [str(COMMAND), *arguments], capture_output=True, text=True, timeout=120, check=False
    )
    assert "Moved 0 sessions" in again.stdout


def test_import_is_resumed_by_running_it_again(store_url: str, tmp_path: Path) -> None:
    from sessionary import SessionManager
    from sessionary.takeover.bulk import BulkReport, move_flask_sessions

    old_url = f"sqlite:///{tmp_path}/flask-session.db"
    names = [f"user{n}" for n in range(5)]
    cookies = flask_sign_in_many(flask_session_sql_app(old_url), names)

    class Interrupted(Exception):
        pass

    def stop_after_two(report: BulkReport) -> None:
        if report.moved >= 2:
            raise Interrupted

    manager = SessionManager(store_url)
    try:
        with pytest.raises(Interrupted):
            move_flask_sessions(manager, FlaskSessionSQL(old_url), batch_size=2, progress=stop_after_two)
        assert sql_rows(old_url) == 3
        report = move_flask_sessions(manager, FlaskSessionSQL(old_url), batch_size=2)
    finally:
        manager.close()
    assert (report.moved, report.present) == (3, 0)
    assert sql_rows(old_url) == 0
    app = sessionary_flask_plain(store_url)
    assert [signed_in_as(app, cookies[name]) for name in names] == names


def test_import_reports_values_json_cannot_hold(store_url: str, old_prefix: str) -> None:
    app = flask_session_redis_app(old_prefix, signer=False)
    client = app.test_client()
    client.get("/login?name=ann&when=1")  # a datetime, which msgpack keeps
    arguments = ["import", "--from", "flask-session", "--store", store_url, "--quiet"]
    arguments += ["--old-redis", REDIS_URL, "--key-prefix", old_prefix]
    result = subprocess.run(
        [str(COMMAND), *arguments], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "Moved 1 sessions" in result.stdout
    assert "key 'when' not carried in 1 sessions" in result.stdout
    assert result.stderr == ""


def test_import_speaks_json(store_url: str, old_prefix: str) -> None:
    flask_sign_in_many(flask_session_redis_app(old_prefix, signer=False), ["ann", "bob"])
    arguments = ["import", "--from", "flask-session", "--store", store_url, "--json"]
    arguments += ["--old-redis", REDIS_URL, "--key-prefix", old_prefix]
    result = subprocess.run(
        [str(COMMAND), *arguments], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", "no progress display in JSON"
    report = json.loads(result.stdout)
    assert {k: report[k] for k in ("moved", "already_moved", "unreadable", "odd_ids", "refused_keys")} == {
        "moved": 2,
        "already_moved": 0,
        "unreadable": 0,
        "odd_ids": 0,
        "refused_keys": {},
    }
    assert report["source"] == "flask-session" and report["seconds"] >= 0


# --- at most once, and failing closed -----------------------------------------------------


def test_racing_requests_take_an_old_session_over_once(store_url: str, old_prefix: str) -> None:
    """Requests replaying one old cookie at the same moment: one gets the session."""
    from sessionary import SessionManager
    from sessionary.shell import run
    from sessionary.takeover.carry import carry_over

    value = flask_sign_in(flask_session_redis_app(old_prefix, signer=False))
    source = FlaskSessionRedis(REDIS_URL, key_prefix=old_prefix)
    manager = SessionManager(store_url, takeover=source)
    start = threading.Barrier(8)

    def attempt() -> Any:
        start.wait()
        return run(carry_over(manager.config, (value,), manager.now()), manager)

    try:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda _: attempt(), range(8)))
    finally:
        manager.close()
    winners = [r for r in results if r is not None]
    assert len(winners) == 1 and winners[0][0] == SIGNED_IN
    assert old_keys(old_prefix) == []


def test_an_unreachable_old_store_fails_closed(store_url: str, exit_stack: Any) -> None:
    """The old store down: 503 and no cookie, so the browser keeps its old one for later."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.testclient import TestClient

    from sessionary import SessionMiddleware

    source = Starsessions(f"redis://127.0.0.1:{free_port()}/0")
    app = Starlette(
        routes=starlette_routes(),
        middleware=[Middleware(SessionMiddleware, store=store_url, takeover=source)],
    )
    client = exit_stack.enter_context(TestClient(app, base_url="https://testserver"))
    client.cookies.set("session", secrets.token_hex(16), domain="testserver.local")
    answer = client.get("/me")
    assert answer.status_code == 503
    assert "set-cookie" not in answer.headers


def test_takeover_needs_a_server_side_store() -> None:
    from sessionary import SessionManager
    from sessionary.errors import ConfigError

    with pytest.raises(ConfigError, match="takeover"):
        SessionManager(
            "cookie://", secret_keys=("a-cookie-signing-key-0123",), takeover=StarletteCookie(SECRET)
        )
    with pytest.raises(ConfigError, match="takeover"):
        SessionManager("memory://", takeover="starsessions")
