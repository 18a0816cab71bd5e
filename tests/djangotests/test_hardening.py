"""The Django engine's twins of tests/test_hardening.py: bad values and the whole session's
size refused before anything is written, a response that sets the session cookie never
storable by a shared cache (``sessionary.django.middleware.SessionMiddleware``) and
Django's two 2026 cache advisories, through Django's own test client on every store."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.test.utils import override_settings
from hardening_apps import PUBLIC, Reply, directives, shared_cache_may_store, varies_on_cookie

from sessionary import SessionValueError
from sessionary.django import get_manager
from sessionary.errors import SessionTooLarge
from sessionary.stores.base import Record
from sessionary.tokens import store_key

from .conftest import DjangoClock

UNRELATED = f"csrftoken={'A' * 32}; theme=dark"
"""Cookies of the site's other than the session's (a well-formed CSRF secret, kept as is)."""
OUR_MIDDLEWARE = "sessionary.django.middleware.SessionMiddleware"
DJANGO_MIDDLEWARE = "django.contrib.sessions.middleware.SessionMiddleware"


def with_our_middleware() -> Any:
    """The test settings' MIDDLEWARE with sessionary's session middleware in place of Django's."""
    return override_settings(
        MIDDLEWARE=[OUR_MIDDLEWARE if name == DJANGO_MIDDLEWARE else name for name in settings.MIDDLEWARE]
    )


def reply(response: Any) -> Reply:
    """A Django test response as the framework tests' ``Reply`` (every header, each cookie)."""
    headers = [(name.lower(), value) for name, value in response.items()]
    headers += [("set-cookie", morsel.OutputString()) for morsel in response.cookies.values()]
    return Reply(response.status_code, headers, response.content.decode())


def session_cookie(response: Any) -> str | None:
    morsel = response.cookies.get(settings.SESSION_COOKIE_NAME)
    return None if morsel is None else morsel.value or None


def run(
    client: Client, ops: list[Any], *, asynchronous: bool = False, headers: dict[str, str] | None = None
) -> Any:
    """``ops`` through the sync or async view; ``headers``: the view's own response headers."""
    form = {"ops": json.dumps(ops), "headers": json.dumps(headers or {})}
    return client.post("/as/" if asynchronous else "/s/", form)


def stored(client: Client) -> Record | None:
    manager = get_manager()
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    return manager.store.sync.load(store_key(key), manager.now())


def live(client: Client) -> int:
    manager = get_manager()
    return manager.store.sync.count(manager.now()).live


BAD = {
    "surrogate-value": (
        [["set", "comment", "caf\ud800"]],
        SessionValueError,
        "'comment': value holds the lone surrogate",
    ),
    "surrogate-key": ([["set", "\udfff", 1]], SessionValueError, "the key holds the lone surrogate"),
    "huge-expiry": ([["expiry", "int", 10**12]], SessionValueError, "'_session_expiry'"),
    "huge-timedelta": ([["expiry", "timedelta", 10**12]], SessionValueError, "'_session_expiry'"),
    "too-large": (
        [["set", f"v{index}", "x" * 1000] for index in range(100)],
        SessionTooLarge,
        "over max_session_bytes=8192",
    ),
}


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("case", BAD)
def test_bad_values_and_oversized_sessions_write_nothing(
    ours: None, djclock: DjangoClock, case: str, asynchronous: bool
) -> None:
    ops, error, match = BAD[case]
    with override_settings(SESSIONARY_MAX_SESSION_BYTES=8192):
        client = Client()
        assert run(client, [["set", "user", "Alice"]]).status_code == 200
        before = stored(client)
        assert before is not None and before.data == {"user": "Alice"}
        with pytest.raises(error, match=match):
            run(client, ops, asynchronous=asynchronous)
        assert stored(client) == before

        count = live(client)
        with pytest.raises(error, match=match):
            run(Client(), [["set", "fine", 1], *ops], asynchronous=asynchronous)
        assert live(client) == count


def test_cve_2026_35192_save_every_request_varies_on_cookie(ours: None, djclock: DjangoClock) -> None:
    """Under SESSION_SAVE_EVERY_REQUEST an unmodified session's response still varies on
    Cookie (Django's fix, kept with the sessionary engine)."""
    with override_settings(SESSION_SAVE_EVERY_REQUEST=True):
        client = Client()
        assert run(client, [["set", "user", "Alice"]]).status_code == 200
        djclock.advance(60)
        response = run(client, [["get", "user"]])
        assert settings.SESSION_COOKIE_NAME in response.cookies
        assert "Cookie" in response["Vary"]


# --- a response that sets the session cookie is never stored by a shared cache ---------------


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_a_cookie_setting_response_is_never_stored_by_a_shared_cache(
    ours: None, djclock: DjangoClock, asynchronous: bool
) -> None:
    """The view marked the page ``public, max-age=600`` and stored something: the response
    that sets the session cookie keeps the browser's lifetime, not the shared cache's."""
    with with_our_middleware():
        response = run(Client(), [["set", "user", "Alice"]], asynchronous=asynchronous, headers=PUBLIC)
        assert session_cookie(response) is not None
        found = reply(response)
        assert not shared_cache_may_store(found), found.headers
        assert directives(found) == {"private": "", "max-age": "600"}
        assert varies_on_cookie(found)


def test_the_rule_is_sessionarys_own(ours: None, djclock: DjangoClock) -> None:
    """The same rewrite as every adapter's (sessionary.caching): no Cache-Control of the
    view's gives ``private, no-store``; CDN-only headers go."""
    cdn = {"CDN-Cache-Control": "max-age=600", "Surrogate-Control": "max-age=600"}
    with with_our_middleware():
        found = reply(run(Client(), [["set", "user", "Alice"]], headers=cdn))
        assert found.header("cdn-cache-control") is None and found.header("surrogate-control") is None
        assert directives(found) == {"private": "", "no-store": ""}


def test_a_logout_that_deletes_the_cookie_is_not_shared_either(ours: None, djclock: DjangoClock) -> None:
    with with_our_middleware():
        client = Client()
        assert run(client, [["set", "user", "Alice"]]).status_code == 200
        response = run(client, [["flush"]], headers=PUBLIC)
        assert response.cookies[settings.SESSION_COOKIE_NAME].value == ""
        assert not shared_cache_may_store(reply(response))


def test_a_public_page_that_sets_no_cookie_keeps_the_views_caching(ours: None, djclock: DjangoClock) -> None:
    with with_our_middleware():
        response = Client(HTTP_COOKIE=UNRELATED).post("/s/", {"headers": json.dumps(PUBLIC)})
        found = reply(response)
        assert found.set_cookies == []
        assert directives(found) == {"public": "", "max-age": "600"}


def test_cve_2026_35192_the_refreshed_cookie_is_never_shared(ours: None, djclock: DjangoClock) -> None:
    """Under SESSION_SAVE_EVERY_REQUEST an unmodified session's refreshed cookie varies on
    Cookie and is not storable by a shared cache, whatever the view's Cache-Control."""
    with with_our_middleware(), override_settings(SESSION_SAVE_EVERY_REQUEST=True):
        client = Client()
        assert run(client, [["set", "user", "Alice"]]).status_code == 200
        djclock.advance(60)
        found = reply(run(client, [["get", "user"]], headers=PUBLIC))
        assert found.set_cookies, "save-every-request refreshes the cookie"
        assert varies_on_cookie(found)
        assert not shared_cache_may_store(found), found.headers


def test_cve_2026_48588_an_unrelated_cookie_never_makes_set_cookie_cacheable(
    ours: None, djclock: DjangoClock
) -> None:
    """The request carries only unrelated cookies; the response that starts a session is
    not storable by a shared cache (the view said ``public``) and varies on Cookie."""
    with with_our_middleware():
        client = Client(HTTP_COOKIE=UNRELATED)
        found = reply(run(client, [["set", "user", "Alice"]], headers=PUBLIC))
        assert session_cookie_in(found)
        assert not shared_cache_may_store(found), found.headers
        assert varies_on_cookie(found)


def session_cookie_in(found: Reply) -> bool:
    return any(value.startswith(f"{settings.SESSION_COOKIE_NAME}=") for value in found.set_cookies)


def test_the_system_check_warns_under_djangos_own_middleware() -> None:
    from sessionary.django.apps import check_middleware

    assert [message.id for message in check_middleware()] == ["sessionary.W001"]
    with with_our_middleware():
        assert check_middleware() == []
    with override_settings(SESSION_ENGINE="django.contrib.sessions.backends.db"):
        assert check_middleware() == [], "another engine: not ours to warn about"


# --- stolen-cookie detection -------------------------------------------------------------


@pytest.mark.parametrize("ends_all", [False, True], ids=["session", "user"])
def test_a_key_retired_by_sign_in_and_presented_later_ends_the_session(
    engines: Any, store_name: str, djclock: DjangoClock, ends_all: bool
) -> None:
    """The same rule as tests/test_reuse.py through ``django.contrib.auth``'s login (which
    cycles the key): the pre-sign-in key sent after the grace ends the signed-in session."""
    from .conftest import make_user
    from .differential import PASSWORD

    events: list[Any] = []
    with engines.activate(
        store_name,
        SESSIONARY_DETECT_TOKEN_REUSE=True,
        SESSIONARY_REUSE_GRACE=5,
        SESSIONARY_REUSE_ENDS_USER_SESSIONS=ends_all,
        SESSIONARY_ON_EVENT=events.append,
    ):
        user = make_user()
        other_device = Client()
        assert (
            other_device.post("/login/", {"username": user.get_username(), "password": PASSWORD}).status_code
            == 200
        )
        client = Client()
        assert run(client, [["set", "cart", ["book"]]]).status_code == 200
        before = client.cookies[settings.SESSION_COOKIE_NAME].value
        response = client.post("/login/", {"username": user.get_username(), "password": PASSWORD})
        assert response.status_code == 200
        signed_in = client.cookies[settings.SESSION_COOKIE_NAME].value
        assert signed_in != before

        djclock.advance(1)  # within the grace: no session, no alarm
        assert (
            Client(HTTP_COOKIE=f"{settings.SESSION_COOKIE_NAME}={before}").post("/whoami/").json()["user"]
            is None
        )
        assert [e for e in events if e.kind == "token_reused"] == []
        assert client.post("/whoami/").json()["user"] == user.get_username()

        djclock.advance(10)
        thief = Client(HTTP_COOKIE=f"{settings.SESSION_COOKIE_NAME}={before}")
        assert thief.post("/whoami/").json()["user"] is None
        assert [e.kind for e in events].count("token_reused") == 1
        assert client.post("/whoami/").json()["user"] is None
        still = other_device.post("/whoami/").json()["user"]
        assert still == (None if ends_all else user.get_username())
