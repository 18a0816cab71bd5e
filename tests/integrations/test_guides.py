"""The migration guides' code, run as written.

Each guide in docs/ marks its code blocks with ``<!-- guide: NAME -->``. This test
extracts them, runs the "before" app (the library being migrated from) and the "after"
app (sessionary) through the same visit, and checks that the views see the same thing,
then that the "after" app has what the guide promises: a new token at sign-in (the old
one opens nothing) and a sign-out that ends the session for a replayed cookie too.
"""

from __future__ import annotations

import importlib.util
import json
import re
import secrets
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from support.services import REDIS_HOST, REDIS_PORT, REDIS_URL, require_port

DOCS = Path(__file__).resolve().parents[2] / "docs"
_BLOCK = re.compile(r"<!-- guide: ([\w-]+) -->\s*```python\n(.*?)```", re.DOTALL)


def blocks(guide: str) -> dict[str, str]:
    found = dict(_BLOCK.findall((DOCS / guide).read_text()))
    assert found, f"{guide} has no marked code blocks"
    return found


def run_blocks(guide: str, *names: str, where: dict[str, str] | None = None) -> dict[str, Any]:
    """Execute the named blocks in order in one namespace (as one module would).

    ``where`` replaces literal texts first: the guide's ``redis://localhost:6379/0`` and
    key prefix become this test's server and a prefix no one else uses.
    """
    code = blocks(guide)
    namespace: dict[str, Any] = {"__name__": f"guide_{guide.replace('-', '_').removesuffix('.md')}"}
    for name in names:
        text = code[name]
        for old, new in (where or {}).items():
            assert old in text or name not in ("before", "after"), f"{guide}:{name} has no {old!r}"
            text = text.replace(old, new)
        exec(compile(text, f"{DOCS / guide}:{name}", "exec"), namespace)
    return namespace


@pytest.fixture
def old_redis() -> Iterator[dict[str, str]]:
    """The guide's Redis URL and key prefix, as this test's server and a prefix of its own
    (its keys deleted afterwards, never a flush)."""
    import redis

    require_port("Redis", REDIS_HOST, REDIS_PORT)
    prefix = f"sessionary-test-guide-{secrets.token_hex(6)}:"
    yield {'"redis://localhost:6379/0"': repr(REDIS_URL), '"myapp:"': repr(prefix)}
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT)
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


def redis_keys(where: dict[str, str]) -> list[bytes]:
    import redis

    prefix = where['"myapp:"'].strip("'")
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT)
    try:
        return list(client.scan_iter(match=f"{prefix}*"))
    finally:
        client.close()


class Visit:
    """A browser's visit: sign in, look, sign out, look; with the cookies it held."""

    def __init__(self, get: Any, cookie: Any) -> None:
        self.get = get  # path, cookies -> (text, cookies)
        self.cookie = cookie

    def run(self) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        seen["anonymous"] = self.get("/me")
        self.get("/me")
        before_login = self.cookie()
        seen["login"] = self.get("/login?name=ann")
        seen["signed_in"] = self.get("/me")
        seen["token_changed_at_login"] = self.cookie() != before_login
        signed_in = self.cookie()
        seen["logout"] = self.get("/logout")
        seen["after_logout"] = self.get("/me")
        seen["signed_in_cookie"] = signed_in
        seen["pre_login_cookie"] = before_login
        return seen


def starlette_visit(app: Any, cookie_name: str, stack: Any = None) -> tuple[dict[str, Any], Any]:
    """``stack`` keeps one event loop for the whole visit (an app holding an asyncio
    Redis connection needs it)."""
    from starlette.testclient import TestClient

    client = TestClient(app, base_url="https://testserver")
    if stack is not None:
        stack.enter_context(client)
    visit = Visit(lambda path: client.get(path).text, lambda: client.cookies.get(cookie_name))
    seen = visit.run()

    def replay(value: str | None) -> str:
        client.cookies.clear()
        if value:
            client.cookies.set(cookie_name, value)
        return client.get("/me").text

    return seen, replay


def flask_visit(app: Any, cookie_name: str) -> tuple[dict[str, Any], Any]:
    client = app.test_client()

    def get(path: str) -> str:
        text: str = client.get(path, base_url="https://localhost").get_data(as_text=True)
        return text

    def cookie() -> str | None:
        found = client.get_cookie(cookie_name, domain="localhost")
        return None if found is None else found.value

    seen = Visit(get, cookie).run()

    def replay(value: str | None) -> str:
        client.delete_cookie(cookie_name, domain="localhost")
        if value:
            client.set_cookie(cookie_name, value, domain="localhost")
        return get("/me")

    return seen, replay


VIEW_KEYS = ("anonymous", "login", "signed_in", "logout", "after_logout")


def same_views(before: dict[str, Any], after: dict[str, Any]) -> None:
    assert {k: after[k] for k in VIEW_KEYS} == {k: before[k] for k in VIEW_KEYS}
    assert after["signed_in"] == "ann"
    assert after["after_logout"] == "anonymous"


def promised(after: dict[str, Any], replay: Any) -> None:
    assert after["token_changed_at_login"]
    assert replay(after["pre_login_cookie"]) == "anonymous"
    assert replay(after["signed_in_cookie"]) == "anonymous"  # a copied cookie died at logout


def test_starlette_guide(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    guide = "migrating-from-starlette.md"
    before, _ = starlette_visit(run_blocks(guide, "views", "before")["app"], "session")
    after, _ = starlette_visit(run_blocks(guide, "views", "after")["app"], "__Host-sessionid")
    same_views(before, after)
    cut_over, _ = starlette_visit(run_blocks(guide, "views", "cut-over")["app"], "__Host-sessionid")
    same_views(before, cut_over)
    improved, replay = starlette_visit(
        run_blocks(guide, "views-improved", "after")["app"], "__Host-sessionid"
    )
    same_views(before, improved)
    promised(improved, replay)


def test_starlette_guide_keeps_signed_in_users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    guide = "migrating-from-starlette.md"
    old_cookie = starlette_sign_in(run_blocks(guide, "views", "before")["app"], "session")
    after = run_blocks(guide, "views", "after")["app"]
    text, held = starlette_me(after, {"session": old_cookie})
    assert text == "ann"
    assert len(held["__Host-sessionid"]) == 43
    assert starlette_me(after, {"__Host-sessionid": held["__Host-sessionid"]})[0] == "ann"
    assert starlette_me(after, {"session": old_cookie})[0] == "anonymous"  # a replay opens nothing
    cut_over = run_blocks(guide, "views", "cut-over")["app"]
    assert starlette_me(cut_over, {"session": old_cookie})[0] == "anonymous"


def test_starsessions_guide(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old_redis: dict[str, str], exit_stack: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    guide = "migrating-from-starsessions.md"
    before, _ = starlette_visit(run_blocks(guide, "before", where=old_redis)["app"], "session", exit_stack)
    after, replay = starlette_visit(run_blocks(guide, "after", where=old_redis)["app"], "__Host-sessionid")
    same_views(before, after)
    promised(after, replay)


def starlette_sign_in(app: Any, cookie_name: str) -> str:
    from starlette.testclient import TestClient

    with TestClient(app, base_url="https://testserver") as client:
        assert client.get("/login?name=ann").text == "signed in"
        value = client.cookies.get(cookie_name)
    assert value
    return value


def starlette_me(app: Any, cookies: dict[str, str]) -> tuple[str, dict[str, str]]:
    """What ``/me`` shows a browser holding ``cookies``, and the cookies it then holds."""
    from starlette.testclient import TestClient

    with TestClient(app, base_url="https://testserver") as client:
        for name, value in cookies.items():
            client.cookies.set(name, value, domain="testserver.local")
        text = client.get("/me").text
        held = {cookie.name: cookie.value for cookie in client.cookies.jar if cookie.value}
    return text, held


def test_starsessions_guide_keeps_signed_in_users(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old_redis: dict[str, str]
) -> None:
    monkeypatch.chdir(tmp_path)
    guide = "migrating-from-starsessions.md"
    old_cookie = starlette_sign_in(run_blocks(guide, "before", where=old_redis)["app"], "session")
    assert len(redis_keys(old_redis)) == 1
    after = run_blocks(guide, "after", where=old_redis)["app"]
    text, held = starlette_me(after, {"session": old_cookie})
    assert text == "ann"  # still signed in, after the switch
    assert len(held["__Host-sessionid"]) == 43  # under a new sessionary token
    assert starlette_me(after, {"__Host-sessionid": held["__Host-sessionid"]})[0] == "ann"
    assert redis_keys(old_redis) == []  # starsessions' record is gone
    assert starlette_me(after, {"session": old_cookie})[0] == "anonymous"  # a replay opens nothing


def test_flask_session_guide(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old_redis: dict[str, str]
) -> None:
    monkeypatch.chdir(tmp_path)
    guide = "migrating-from-flask-session.md"
    before, _ = flask_visit(run_blocks(guide, "before", where=old_redis)["app"], "session")
    after, replay = flask_visit(run_blocks(guide, "after", where=old_redis)["app"], "__Host-sessionid")
    same_views(before, after)
    promised(after, replay)


def flask_me(app: Any, cookies: dict[str, str]) -> tuple[str, dict[str, str]]:
    client = app.test_client()
    for name, value in cookies.items():
        client.set_cookie(name, value, domain="localhost")
    text = client.get("/me", base_url="https://localhost").get_data(as_text=True)
    held = {
        name: found.value
        for name in ("session", "__Host-sessionid")
        if (found := client.get_cookie(name)) is not None
    }
    return text, held


def flask_sign_in(app: Any) -> str:
    client = app.test_client()
    client.get("/login?name=ann", base_url="https://localhost")
    found = client.get_cookie("session")
    assert found is not None
    return str(found.value)


def test_flask_session_guide_keeps_signed_in_users(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old_redis: dict[str, str]
) -> None:
    monkeypatch.chdir(tmp_path)
    guide = "migrating-from-flask-session.md"
    old_cookie = flask_sign_in(run_blocks(guide, "before", where=old_redis)["app"])
    assert len(redis_keys(old_redis)) == 1
    after = run_blocks(guide, "after", where=old_redis)["app"]
    text, held = flask_me(after, {"session": old_cookie})
    assert text == "ann"
    assert len(held["__Host-sessionid"]) == 43 and held["__Host-sessionid"] != old_cookie
    assert flask_me(after, {"__Host-sessionid": held["__Host-sessionid"]})[0] == "ann"
    assert redis_keys(old_redis) == []  # Flask-Session's record is gone
    assert flask_me(after, {"session": old_cookie})[0] == "anonymous"  # a replay opens nothing


def test_flask_cookie_section_keeps_signed_in_users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flask import Flask, session

    monkeypatch.chdir(tmp_path)
    old = Flask(__name__)
    old.config["SECRET_KEY"] = "the old SECRET_KEY"

    @old.get("/login")
    def login() -> str:
        session["user"] = "ann"
        return "signed in"

    old_cookie = flask_sign_in(old)
    after = run_blocks("migrating-from-flask-session.md", "cookie-after")["app"]
    text, held = flask_me(after, {"session": old_cookie})
    assert text == "ann"
    assert flask_me(after, {"__Host-sessionid": held["__Host-sessionid"]})[0] == "ann"
    assert flask_me(after, {"session": old_cookie})[0] == "anonymous"


# --- Django: settings are process-wide, so each run gets a process of its own ------------

_DJANGO_RUN = textwrap.dedent(
    """
    import json, re, sys
    from pathlib import Path

    guide, mode, blocks = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
    code = dict(re.findall(r"<!-- guide: ([\\w-]+) -->\\s*```python\\n(.*?)```", Path(guide).read_text(), re.DOTALL))
    settings = {"INSTALLED_APPS": ["django.contrib.sessions"]}
    for block in blocks:
        exec(code[block], {}, settings)

    import django
    from django.conf import settings as django_settings
    from django.urls import path

    views = {"__name__": "guide_views"}
    exec(code["views"], views)
    urlpatterns = [path(name, views[name]) for name in ("login", "me", "logout")]

    django_settings.configure(
        SECRET_KEY="guide-test-" + "x" * 40,
        ROOT_URLCONF=__name__,
        ALLOWED_HOSTS=["testserver"],
        MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "django.sqlite3"}},
        **settings,
    )
    django.setup()
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0)
    client = Client()
    cookie = lambda: client.cookies["sessionid"].value if "sessionid" in client.cookies else None
    get = lambda url: client.get(url).content.decode()
    seen = {}
    if mode == "visit":
        seen["anonymous"] = get("/me")
        before_login = cookie()
        seen["login"] = get("/login?name=ann")
        seen["signed_in"] = get("/me")
        seen["token_changed_at_login"] = cookie() != before_login
        signed_in = cookie()
        seen["logout"] = get("/logout")
        seen["after_logout"] = get("/me")
        client.cookies["sessionid"] = signed_in
        seen["replayed_after_logout"] = get("/me")
    elif mode == "sign-in":
        get("/login?name=ann")
        seen["cookie"] = cookie()
    elif mode == "takeover":
        client.cookies["sessionid"] = sys.argv[4]
        seen["me"] = get("/me")
        seen["new_cookie"] = cookie()
        seen["again"] = get("/me")
        thief = Client()
        thief.cookies["sessionid"] = sys.argv[4]
        seen["replayed"] = thief.get("/me").content.decode()
    elif mode == "import":
        call_command("sessionary_import", verbosity=0)
        client.cookies["sessionid"] = sys.argv[4]
        seen["me"] = get("/me")
        seen["login_again"] = get("/login?name=ann")
        seen["new_cookie"] = cookie()
    print(json.dumps(seen))
    """
)


def django_run(tmp_path: Path, workdir: str, mode: str, blocks: str, *extra: str) -> dict[str, Any]:
    script = tmp_path / "run_django.py"
    script.write_text(_DJANGO_RUN)
    (tmp_path / workdir).mkdir(exist_ok=True)
    result = subprocess.run(
        [sys.executable, str(script), str(DOCS / "migrating-from-django.md"), mode, blocks, *extra],
        cwd=tmp_path / workdir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    seen: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return seen


def test_django_guide_before(tmp_path: Path) -> None:
    before = django_run(tmp_path, "before", "visit", "before")
    assert before["signed_in"] == "ann"
    assert before["token_changed_at_login"]
    assert before["replayed_after_logout"] == "anonymous"


def need_sessionary_django() -> None:
    if importlib.util.find_spec("sessionary.django") is None:
        pytest.skip("sessionary.django is not in this tree yet (it is written on its own branch)")


def test_django_guide_after(tmp_path: Path) -> None:
    need_sessionary_django()
    before = django_run(tmp_path, "before", "visit", "before")
    after = django_run(tmp_path, "after", "visit", "after")
    assert {k: after[k] for k in VIEW_KEYS} == {k: before[k] for k in VIEW_KEYS}
    assert after["token_changed_at_login"]
    assert after["replayed_after_logout"] == "anonymous"


def test_django_guide_keeps_signed_in_users(tmp_path: Path) -> None:
    need_sessionary_django()
    old_cookie = django_run(tmp_path, "site", "sign-in", "before")["cookie"]
    assert len(old_cookie) == 32
    switched = django_run(tmp_path, "site", "import", "after,keep", old_cookie)
    assert switched["me"] == "ann"  # still signed in, on the cookie Django issued
    assert len(switched["new_cookie"]) == 43  # and the next sign-in moves to a sessionary token


def test_starsessions_rolling_maps_to_a_session_that_rolls(store_url: str) -> None:
    """starsessions' ``rolling=True, lifetime=N`` as the guide maps it: a user who only
    reads stays signed in past N seconds after the last write (starsessions' own
    ``test_rolling_session_must_extend_duration``)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from sessionary import SessionManager, SessionMiddleware
    from sessionary.testing import FakeClock

    async def write(request: Request) -> PlainTextResponse:
        request.session["user"] = "alice"
        return PlainTextResponse("in")

    async def read(request: Request) -> PlainTextResponse:
        return PlainTextResponse(str(await request.session.aget("user", "anonymous")))

    clock = FakeClock(datetime.now(UTC))  # Redis keeps its own TTLs on the real clock
    guide_settings = {"cookie_age": 3600, "save_every_request": True}  # the guide's mapping
    manager = SessionManager(store_url, clock=clock, **guide_settings)  # type: ignore[arg-type]
    app = Starlette(routes=[Route("/write", write), Route("/read", read)])
    with TestClient(SessionMiddleware(app, manager=manager), base_url="https://testserver") as client:
        client.get("/write")
        for _ in range(4):  # two hours of reads, 30 minutes apart
            clock.advance(minutes=30)
            reply = client.get("/read")
            assert reply.text == "alice"
            assert "Max-Age=" in reply.headers["set-cookie"]  # the cookie rolls too
        clock.advance(minutes=61)  # then an idle hour: the session has ended
        assert client.get("/read").text == "anonymous"
    guide = (DOCS / "migrating-from-starsessions.md").read_text()
    assert "save_every_request=True" in blocks("migrating-from-starsessions.md")["after"]
    assert "`cookie_age=N, save_every_request=True`" in guide


def test_django_guide_takes_over_signed_in_users(tmp_path: Path) -> None:
    need_sessionary_django()
    old_cookie = django_run(tmp_path, "site", "sign-in", "before")["cookie"]
    switched = django_run(tmp_path, "site", "takeover", "after,takeover", old_cookie)
    assert switched["me"] == "ann"  # still signed in
    assert len(switched["new_cookie"]) == 43  # under a new sessionary key
    assert switched["again"] == "ann"
    assert switched["replayed"] == "anonymous"  # the old key opens nothing any more


# --- the async frameworks: each visit through the framework's own test client -----------


def async_visit(framework: str, app: Any, cookie_name: str) -> tuple[dict[str, Any], Any, set[str]]:
    """The visit through ``framework``'s test client (async_clients), with the cookie
    kept by hand; also every session cookie value the server set."""
    from contextlib import ExitStack

    from .async_clients import async_sender
    from .cookies import session_cookie

    stack = ExitStack()
    send = async_sender(framework, app, stack)
    held: dict[str, str | None] = {"value": None}
    issued: set[str] = set()

    def request(path: str, value: str | None) -> tuple[str, list[str]]:
        reply = send("GET", path, {"Cookie": f"{cookie_name}={value}"} if value else {}, None)
        return reply.text, reply.set_cookies

    def get(path: str) -> str:
        text, set_cookies = request(path, held["value"])
        cookie = session_cookie(set_cookies, cookie_name)
        if cookie is not None:
            held["value"] = None if cookie.deletes else cookie.value
            if cookie.value:
                issued.add(cookie.value)
        return text

    with stack:
        seen = Visit(get, lambda: held["value"]).run()
        replayed = {
            value: request("/me", value)[0] for value in (seen["pre_login_cookie"], seen["signed_in_cookie"])
        }

    def replay(value: str | None) -> str:
        return replayed.get(value, "not replayed")

    return seen, replay, issued


def delete_redis_keys(keys: list[str]) -> None:
    """Delete the records a "before" app wrote to the shared Redis (its own keys only)."""
    import redis

    from support.services import REDIS_HOST, REDIS_PORT

    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT)
    try:
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def test_aiohttp_session_guide(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from support.services import REDIS_HOST, REDIS_PORT, require_port

    require_port("Redis", REDIS_HOST, REDIS_PORT)  # the "before" app keeps sessions in Redis
    monkeypatch.chdir(tmp_path)
    guide = "migrating-from-aiohttp-session.md"
    written: set[str] = set()
    try:
        before, _, written = async_visit("aiohttp", run_blocks(guide, "before")["app"], "AIOHTTP_SESSION")
    finally:
        delete_redis_keys([f"AIOHTTP_SESSION_{value}" for value in written])
    after, replay, _ = async_visit("aiohttp", run_blocks(guide, "after")["app"], "__Host-sessionid")
    same_views(before, after)
    promised(after, replay)


def test_quart_session_guide(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from support.services import REDIS_HOST, REDIS_PORT, require_port

    require_port("Redis", REDIS_HOST, REDIS_PORT)  # the "before" app keeps sessions in Redis
    monkeypatch.chdir(tmp_path)
    guide = "migrating-from-quart-session.md"
    written: set[str] = set()
    try:
        before, _, written = async_visit("quart", run_blocks(guide, "before")["app"], "session")
    finally:
        delete_redis_keys([f"myapp-session:{value}" for value in written])
    after, replay, _ = async_visit("quart", run_blocks(guide, "after")["app"], "__Host-sessionid")
    same_views(before, after)
    promised(after, replay)


# --- Pyramid ------------------------------------------------------------------------------


def pyramid_visit(app: Any, cookie_name: str) -> tuple[dict[str, Any], Any]:
    """WebTest with its own cookie jar, as a browser on https://testserver would keep it."""
    import webtest

    client = webtest.TestApp(app, extra_environ={"wsgi.url_scheme": "https", "HTTP_HOST": "testserver"})

    def get(path: str) -> str:
        text: str = client.get(path).text
        return text

    def cookie() -> str | None:
        return client.cookies.get(cookie_name)

    seen = Visit(get, cookie).run()

    def replay(value: str | None) -> str:
        client.cookiejar.clear()
        if value:
            client.set_cookie(cookie_name, value)
        return get("/me")

    return seen, replay


def run_blocks_as_module(guide: str, name: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """As :func:`run_blocks`, in a module in ``sys.modules`` (Pyramid's Configurator looks
    up the module that calls it)."""
    import types

    module = types.ModuleType(f"guide_{guide.replace('-', '_').removesuffix('.md')}_{name}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(blocks(guide)[name], f"{DOCS / guide}:{name}", "exec"), module.__dict__)
    return module.__dict__


def test_pyramid_session_redis_guide(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from support.services import REDIS_HOST, REDIS_PORT, require_port

    require_port("Redis", REDIS_HOST, REDIS_PORT)  # the "before" app runs on pyramid-session-redis
    monkeypatch.chdir(tmp_path)
    guide = "migrating-from-pyramid-session-redis.md"
    before, replay_before = pyramid_visit(
        run_blocks_as_module(guide, "before", monkeypatch)["app"], "session"
    )
    assert replay_before(before["signed_in_cookie"]) == "anonymous"  # its invalidate() ended it
    after, replay = pyramid_visit(
        run_blocks_as_module(guide, "after", monkeypatch)["app"], "__Host-sessionid"
    )
    same_views(before, after)
    promised(after, replay)
