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
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
_BLOCK = re.compile(r"<!-- guide: ([\w-]+) -->\s*```python\n(.*?)```", re.DOTALL)


def blocks(guide: str) -> dict[str, str]:
    found = dict(_BLOCK.findall((DOCS / guide).read_text()))
    assert found, f"{guide} has no marked code blocks"
    return found


def run_blocks(guide: str, *names: str) -> dict[str, Any]:
    """Execute the named blocks in order in one namespace (as one module would)."""
    code = blocks(guide)
    namespace: dict[str, Any] = {"__name__": f"guide_{guide.replace('-', '_').removesuffix('.md')}"}
    for name in names:
        exec(compile(code[name], f"{DOCS / guide}:{name}", "exec"), namespace)
    return namespace


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


def starlette_visit(app: Any, cookie_name: str) -> tuple[dict[str, Any], Any]:
    from starlette.testclient import TestClient

    client = TestClient(app, base_url="https://testserver")
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
    improved, replay = starlette_visit(
        run_blocks(guide, "views-improved", "after")["app"], "__Host-sessionid"
    )
    same_views(before, improved)
    promised(improved, replay)


def test_starsessions_guide(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    guide = "migrating-from-starsessions.md"
    before, _ = starlette_visit(run_blocks(guide, "before")["app"], "session")
    after, replay = starlette_visit(run_blocks(guide, "after")["app"], "__Host-sessionid")
    same_views(before, after)
    promised(after, replay)


def test_flask_session_guide(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    guide = "migrating-from-flask-session.md"
    before, _ = flask_visit(run_blocks(guide, "before")["app"], "session")
    after, replay = flask_visit(run_blocks(guide, "after")["app"], "__Host-sessionid")
    same_views(before, after)
    promised(after, replay)


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
    from services import REDIS_HOST, REDIS_PORT, require_port

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
