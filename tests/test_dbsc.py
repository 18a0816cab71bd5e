"""Device Bound Session Credentials end to end (issue 17, item 2): a client implementing
the browser's side of the protocol (tests/dbsc_browser.py) against the DBSC mount of
every framework integration, through each framework's own test client.

Starlette, FastAPI and plain WSGI (the ASGI and WSGI mounts) run on every store; the
other frameworks' mounts (tests/dbsc_apps.py) run on SQLite and Redis: the protocol is
the same code on every store, what differs per framework is the translation, and
those two stores take both of the store's faces (sync and async) through it. The
Django engine's mount runs the same tests in tests/djangotests/test_dbsc.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any

import pytest
from dbsc_apps import FRAMEWORKS as MOUNTED
from dbsc_apps import DBSCSite
from dbsc_browser import DBSCBrowser, Key, parameters
from hardening_apps import Site

from conformance.stores import FACTORIES
from sessionary import SessionManager
from sessionary.stores import Store
from sessionary.testing import FakeClock

ON_EVERY_STORE = ("starlette", "fastapi", "wsgi")
MOUNTED_STORES = ("sqlite", "redis")
REGISTER = "/.well-known/sessionary/dbsc/register"
REFRESH = "/.well-known/sessionary/dbsc/refresh"

CASES = [(framework, store) for framework in ON_EVERY_STORE for store in sorted(FACTORIES)]
CASES += [(framework, store) for framework in MOUNTED for store in MOUNTED_STORES]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "framework" in metafunc.fixturenames:
        metafunc.parametrize(("framework", "store_name"), CASES, ids=[f"{f}-{s}" for f, s in CASES])


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def make_site(framework: str, store: Store, clock: FakeClock) -> Iterator[Callable[..., Any]]:
    with ExitStack() as stack:

        def build(**settings: Any) -> Site | DBSCSite:
            manager = SessionManager(store, clock=clock, **settings)
            if framework in ON_EVERY_STORE:
                return Site(framework, manager, stack, dbsc=True)
            return DBSCSite(framework, manager, stack)

        yield build


def signed_in(site: Any, **options: Any) -> DBSCBrowser:
    browser = DBSCBrowser(site, **options)
    reply = browser.request("/login", user="alice")
    assert reply.status == 200
    return browser


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_sign_in_binds_the_session_and_refreshes_keep_it_going(
    make_site: Callable[..., Any], clock: FakeClock, alg: str
) -> None:
    site = make_site(renewal_grace=5)
    browser = signed_in(site, alg=alg)
    (registration,) = browser.registrations
    assert browser.bound_names == ["__Host-sessionid-bound"]
    (bound,) = [c for c in registration.set_cookies if c.startswith("__Host-sessionid-bound=")]
    assert "Max-Age=600" in bound and "Secure" in bound and "HttpOnly" in bound
    assert "no-store" in (registration.header("cache-control") or "")
    assert browser.request("/read").text == "user=alice"

    session_token = browser.cookies["__Host-sessionid"][0]
    for _ in range(3):  # an hour of use: the bound cookie is refreshed as it expires
        clock.advance(601)
        assert browser.request("/read").text == "user=alice"
    assert browser.refreshes == 3
    if getattr(site, "renews_token", True):
        assert browser.cookies["__Host-sessionid"][0] != session_token, (
            "each refresh renews the session token"
        )
    else:  # the Django engine: its cycle_key has no grace alias, so the key stays
        assert browser.cookies["__Host-sessionid"][0] == session_token


def test_a_thief_with_every_cookie_but_no_key_is_refused_once_the_bound_cookie_expires(
    make_site: Callable[..., Any], clock: FakeClock
) -> None:
    site = make_site()
    browser = signed_in(site)
    stolen = browser.cookie_header()
    assert site.request("GET", "/read", cookie=stolen).text == "user=alice", "the copy works for minutes"
    clock.advance(601)
    refused = site.request("GET", "/read", cookie=stolen)
    assert refused.status == 401 and "bound to a device" in refused.text
    # Refreshing needs a proof signed with the browser's key.
    ask = site.request(
        "POST", REFRESH, cookie=stolen, headers={"Sec-Secure-Session-Id": browser.session_id or ""}
    )
    assert ask.status == 403
    challenge = (ask.header("secure-session-challenge") or "").split(";")[0].strip('"')
    forged = Key("ES256").proof({"jti": challenge}, with_jwk=False)
    answer = site.request("POST", REFRESH, cookie=stolen, headers={"Secure-Session-Response": forged})
    assert answer.status == 400 and "does not verify" in answer.text
    assert not any(c.startswith("__Host-sessionid-bound=") for c in answer.set_cookies)
    # The owner's browser is not locked out by the attempt.
    assert browser.request("/read").text == "user=alice"


def test_the_session_cookie_alone_is_refused(make_site: Callable[..., Any]) -> None:
    site = make_site()
    browser = signed_in(site)
    token = browser.cookies["__Host-sessionid"][0]
    assert site.get("/read", token=token).status == 401


BAD_PROOFS = {
    "wrong-challenge": lambda key, challenge: key.proof({"jti": "not-" + challenge}, with_jwk=True),
    "no-key": lambda key, challenge: key.proof({"jti": challenge}, with_jwk=False),
    "typ-jwt": lambda key, challenge: key.proof({"jti": challenge}, with_jwk=True, header={"typ": "JWT"}),
    "alg-none": lambda key, challenge: key.proof({"jti": challenge}, with_jwk=True, header={"alg": "none"}),
    "other-key": lambda key, challenge: key.proof(
        {"jti": challenge}, with_jwk=True, header={"jwk": Key().jwk}
    ),
    "garbage": lambda key, challenge: "a.b.c",
}


@pytest.mark.parametrize("bad", BAD_PROOFS)
def test_a_bad_registration_proof_binds_nothing(make_site: Callable[..., Any], bad: str) -> None:
    site = make_site()
    browser = DBSCBrowser(site, supports_dbsc=False)
    offer = browser.request("/login", user="alice").header("secure-session-registration")
    assert offer is not None and offer.startswith('(ES256 RS256);path="' + REGISTER + '";challenge="')
    proof = BAD_PROOFS[bad](Key(), parameters(offer)["challenge"])
    reply = browser.send("POST", REGISTER, headers={"Secure-Session-Response": proof})
    assert reply.status == 400, reply.text
    assert not any("-bound=" in c for c in reply.set_cookies)
    assert browser.request("/read").text == "user=alice", "still an unbound session"


def test_browsers_without_dbsc_are_unaffected(make_site: Callable[..., Any], clock: FakeClock) -> None:
    site = make_site()
    browser = signed_in(site, supports_dbsc=False)
    for _ in range(3):
        clock.advance(3600)
        assert browser.request("/read").text == "user=alice"
    anonymous = DBSCBrowser(site)
    reply = anonymous.request("/set")
    assert reply.header("secure-session-registration") is None, "only signed-in sessions are offered"


def test_an_in_flight_request_with_the_cookies_from_before_a_refresh(
    make_site: Callable[..., Any], clock: FakeClock
) -> None:
    site = make_site(renewal_grace=5)
    browser = signed_in(site)
    clock.advance(590)  # the bound cookie still lives; a request leaves with it
    in_flight = browser.cookie_header()
    browser.refresh()  # another tab refreshes meanwhile
    assert browser.cookie_header() != in_flight
    reply = site.request("GET", "/read", cookie=in_flight)
    assert reply.text == "user=alice", "the previous bound cookie and token alias still serve it"
    clock.advance(6)
    late = site.request("GET", "/read", cookie=in_flight)
    if getattr(site, "renews_token", True):
        assert late.text == "user=-", "after the grace: no session"
    else:  # the same session key, with a bound cookie past its grace: refused
        assert late.status == 401
    assert browser.request("/read").text == "user=alice"


def test_logout_ends_the_binding_with_the_session(make_site: Callable[..., Any]) -> None:
    site = make_site()
    browser = signed_in(site)
    stolen = browser.cookie_header()
    assert browser.request("/logout").status == 200
    assert site.request("GET", "/read", cookie=stolen).text == "user=-"


def test_the_endpoints_answer_only_post_and_only_an_offered_session(make_site: Callable[..., Any]) -> None:
    """Every mount answers the two paths itself, as the ASGI mount does: 405 with
    ``Allow: POST`` to any other method, 401 to a registration nobody was offered."""
    site = make_site()
    for path in (REGISTER, REFRESH):
        reply = site.request("GET", path)
        assert reply.status == 405 and reply.header("allow") == "POST", (path, reply)
    refused = site.request("POST", REGISTER, headers={"Secure-Session-Response": "a.b.c"})
    assert refused.status == 401 and "no signed-in session" in refused.text
    assert site.request("POST", REFRESH).status == 401
