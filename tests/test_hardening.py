"""Limits no single request can break, on every store through every framework integration.

* Bad values get the documented error: a lone surrogate (in a value or a key) and an
  expiry no date can hold raise :class:`SessionValueError` naming the key, and nothing
  is written (issue 17, item 4).
* No single session can hurt the store: ``max_session_bytes`` bounds the whole session,
  checked before anything is written (item 3).
* Caching can never leak a session: a response that sets the session cookie is never
  storable by a shared cache, whatever the app's ``Cache-Control``; regression tests for
  CVE-2026-35192 and CVE-2026-48588 (item 5).

Each test runs on every store of the conformance registry and through each framework's
own test client (tests/hardening_apps.py); the Django engine's twins are in
tests/djangotests/test_hardening.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any

import pytest
from hardening_apps import (
    FRAMEWORKS,
    PROPAGATING,
    Site,
    directives,
    shared_cache_may_store,
    varies_on_cookie,
)

from sessionary import SessionManager, SessionValueError
from sessionary.errors import SessionTooLarge
from sessionary.stores import Store
from sessionary.stores.base import Record
from sessionary.testing import FakeClock
from sessionary.tokens import store_key


@pytest.fixture(params=FRAMEWORKS)
def framework(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def real_clock() -> FakeClock:
    """A fake clock at the real time, so stores with server-side TTLs agree with it."""
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def make_site(framework: str, store: Store, real_clock: FakeClock) -> Iterator[Callable[..., Site]]:
    with ExitStack() as stack:

        def build(**settings: Any) -> Site:
            manager = SessionManager(store, clock=real_clock, **settings)
            return Site(framework, manager, stack)

        yield build


def stored(site: Site, token: str) -> Record | None:
    return site.manager.store.sync.load(store_key(token), site.manager.now())


def live_count(site: Site) -> int:
    return site.manager.store.sync.count(site.manager.now()).live


def new_session(site: Site) -> str:
    reply = site.get("/set", user="Alice")
    assert reply.status == 200, reply.text
    token = site.token_of(reply)
    assert token is not None
    return token


def refused(site: Site, path: str, error: type[Exception], match: str, **kwargs: Any) -> None:
    """Run a request whose save must fail with ``error``: raised through the framework's
    test client (Litestar wraps it in its own exception), or answered by the framework
    as a 500 without a session cookie (Litestar, for an error raised in the view)."""
    failure: BaseException | None = None
    try:
        reply = site.get(path, **kwargs)
    except Exception as raised:
        failure = raised
    if failure is not None:
        found: BaseException | None = failure
        while found is not None and not isinstance(found, error):
            found = found.__cause__ or found.__context__
        assert found is not None, f"{error.__name__} not in the chain of {failure!r}"
        assert re.search(match, str(found)), str(found)
        return
    assert site.framework not in PROPAGATING, f"{site.framework} answered {reply.status}: {reply.text}"
    assert reply.status == 500, reply.text
    assert site.token_of(reply) is None


# --- item 4: bad values --------------------------------------------------------------------

BAD = {
    "/surrogate-value": "session key 'comment': value holds the lone surrogate '\\\\ud800'",
    "/surrogate-key": "session key '\\\\udfff': the key holds the lone surrogate",
    "/huge-expiry": "session key '_session_expiry': an expiry of 1000000000000 seconds",
}


@pytest.mark.parametrize("path", BAD)
def test_bad_values_raise_session_value_error_naming_the_key_and_write_nothing(
    make_site: Callable[..., Site], path: str
) -> None:
    site = make_site()
    token = new_session(site)
    before = stored(site, token)
    refused(site, path, SessionValueError, BAD[path], token=token)
    assert stored(site, token) == before
    assert before is not None and before.data == {"user": "Alice"}

    count = live_count(site)
    refused(site, path, SessionValueError, BAD[path])  # a new session with it: never created
    assert live_count(site) == count


def test_an_expiry_just_inside_the_calendar_is_still_accepted(make_site: Callable[..., Site]) -> None:
    """Django's rule stands for every number a date can hold (10**10 s: the year 2343)."""
    site = make_site()
    reply = site.get("/huge-expiry", seconds=10**10)
    assert reply.status == 200
    token = site.token_of(reply)
    assert token is not None and stored(site, token) is not None


# --- item 3: the whole session's size ------------------------------------------------------


def test_a_session_over_max_session_bytes_is_refused_before_any_write(
    make_site: Callable[..., Site],
) -> None:
    site = make_site(max_value_bytes=1024, max_session_bytes=8192)
    token = new_session(site)
    before = stored(site, token)
    # Each value is within max_value_bytes; together they are not.
    refused(site, "/big", SessionTooLarge, r"over max_session_bytes=8192", token=token, count=100, size=1000)
    assert stored(site, token) == before

    count = live_count(site)
    refused(site, "/big", SessionTooLarge, "over max_session_bytes", count=100, size=1000)
    assert live_count(site) == count


def test_the_limit_counts_what_is_already_stored(make_site: Callable[..., Site]) -> None:
    """A small change to a session already near the limit is refused too: the check is
    on the whole session, not on the keys one request changes."""
    site = make_site(max_value_bytes=1024, max_session_bytes=8192)
    token = new_session(site)
    assert site.get("/big", token=token, count=7, size=1000).status == 200
    before = stored(site, token)
    assert before is not None and len(before.data) == 8
    refused(
        site,
        "/big",
        SessionTooLarge,
        "over max_session_bytes=8192",
        token=token,
        count=2,
        size=600,
        prefix="w",
    )
    assert stored(site, token) == before
    assert site.get("/big", token=token, count=1, size=600, prefix="w").status == 200


def test_a_hundred_one_megabyte_values_are_refused_by_default(store: Store, real_clock: FakeClock) -> None:
    """The report: each value within the default max_value_bytes (1 MiB), a hundred of
    them made a 100 MB record. The default max_session_bytes (4 MiB) refuses it."""
    with ExitStack() as stack:
        site = Site("starlette", SessionManager(store, clock=real_clock), stack)
        token = new_session(site)
        before = stored(site, token)
        with pytest.raises(SessionTooLarge) as raised:
            site.get("/big", token=token, count=100, size=1024 * 1024 - 2)
        assert raised.value.limit == 4 * 1024 * 1024
        assert raised.value.size > 100 * 1024 * 1024
        assert stored(site, token) == before


# --- item 5: caching ---------------------------------------------------------------------------


def test_a_cookie_setting_response_is_never_stored_by_a_shared_cache(make_site: Callable[..., Site]) -> None:
    """ASVS 5 V14.3.2: the app marked the page ``public, max-age=600``; the response
    that also sets the session cookie must not be storable by a shared cache."""
    site = make_site()
    reply = site.get("/public-set")
    assert site.token_of(reply) is not None
    assert not shared_cache_may_store(reply), reply.headers
    found = directives(reply)
    assert "public" not in found and "private" in found
    assert found.get("max-age") == "600", "the browser's own cache keeps the app's lifetime"
    assert varies_on_cookie(reply)


def test_a_public_page_that_sets_no_cookie_keeps_the_apps_caching(make_site: Callable[..., Site]) -> None:
    """Browsers and visitors without a session are unaffected: nothing is rewritten."""
    site = make_site()
    reply = site.get("/public-untouched", cookie="csrftoken=abc; theme=dark")
    assert reply.set_cookies == []
    assert directives(reply) == {"public": "", "max-age": "600"}
    assert shared_cache_may_store(reply)


def test_cve_2026_35192_save_every_request_varies_on_cookie_when_unmodified(
    make_site: Callable[..., Site],
) -> None:
    """Django before 6.0.5 / 5.2.14 left out ``Vary: Cookie`` under
    SESSION_SAVE_EVERY_REQUEST when the session was not modified, so a shared cache could
    hand one user's refreshed session cookie to the next visitor."""
    site = make_site(save_every_request=True, touch_fraction=0)
    token = new_session(site)
    site.manager.clock.advance(60)  # type: ignore[attr-defined]
    reply = site.get("/public-read", token=token)
    assert reply.text == "a public page for Alice"
    assert site.token_of(reply) == token, "save-every-request refreshes the cookie"
    assert varies_on_cookie(reply), reply.headers
    assert not shared_cache_may_store(reply), reply.headers


def test_cve_2026_48588_an_unrelated_cookie_never_makes_set_cookie_cacheable(
    make_site: Callable[..., Site],
) -> None:
    """Django before 6.0.7 / 5.2.16 could cache a response carrying ``Set-Cookie`` when
    the request had some other cookie: the session cookie then reached other visitors.
    Here the request carries only unrelated cookies; the response that starts a session
    is still never storable by a shared cache and varies on Cookie."""
    site = make_site()
    reply = site.get("/public-set", cookie="csrftoken=abc; theme=dark")
    assert site.token_of(reply) is not None
    assert not shared_cache_may_store(reply), reply.headers
    assert varies_on_cookie(reply)


def test_cdn_only_headers_are_dropped_from_cookie_setting_responses(make_site: Callable[..., Site]) -> None:
    """``CDN-Cache-Control`` overrides ``Cache-Control`` for CDNs (RFC 9213): it must not
    survive on a response that hands out a token."""
    site = make_site()
    reply = site.get("/public-cdn")
    assert site.token_of(reply) is not None
    assert reply.header("cdn-cache-control") is None and reply.header("surrogate-control") is None
    assert not shared_cache_may_store(reply)
    assert directives(reply) == {"private": "", "no-store": ""}
