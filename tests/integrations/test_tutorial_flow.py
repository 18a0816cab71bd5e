"""The tutorial flow, through every framework's own test client, on every store.

Each example app (examples/<framework>/app.py) is served with a manager on a fresh
store and a clock the test moves; the same checks run against each: the cookie's
attributes, ``set_expiry``, rotation at login (the old token opens nothing), logout
(cookie deleted, record gone) and the user's session list.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime

import pytest

from sessionary import SessionManager
from sessionary.testing import FakeClock
from sessionary.tokens import is_well_formed

from .frameworks import FRAMEWORKS, Browser, Send, example_sender


@pytest.fixture
def clock() -> FakeClock:
    # Real time: stores with native TTLs count in real seconds too.
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def manager(store_url: str, clock: FakeClock) -> Iterator[SessionManager]:
    manager = SessionManager(store_url, clock=clock)
    yield manager
    manager.close()


@pytest.fixture(params=FRAMEWORKS)
def framework(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def send(framework: str, manager: SessionManager, exit_stack: ExitStack) -> Send:
    return example_sender(framework, manager, exit_stack)


@pytest.fixture
def browser(send: Send) -> Browser:
    return Browser(send)


def login(browser: Browser, username: str) -> None:
    reply = browser.post("/login", form={"username": username})
    assert reply.status == 200, reply.text
    assert reply.text.strip() == f"Logged in as {username}"


def test_first_write_sets_a_secure_cookie(browser: Browser) -> None:
    reply = browser.get("/set-short-session")
    assert reply.status == 200
    cookie = browser.last_cookie
    assert cookie is not None
    assert is_well_formed(cookie.value)
    assert cookie.max_age == 10
    assert "expires" in cookie.attributes
    for flag in ("httponly", "secure"):
        assert flag in cookie.attributes
    assert cookie.attributes["samesite"].lower() == "lax"  # a case-insensitive value (RFC 6265bis)
    assert cookie.attributes["path"] == "/"
    assert "Cookie" in (reply.header("vary") or "")
    assert "no-store" in (reply.header("cache-control") or "")


def test_a_request_that_does_not_use_the_session_sets_no_cookie(browser: Browser) -> None:
    reply = browser.get("/")
    assert reply.status == 200
    assert reply.set_cookies == []
    reply = browser.get("/check-session")
    assert reply.text.strip() == "User in session: No session"
    assert reply.set_cookies == []  # reading an empty session stores nothing


def test_short_session_lives_ten_seconds(browser: Browser, clock: FakeClock) -> None:
    browser.get("/set-short-session")
    assert browser.get("/check-session").text.strip() == "User in session: Alice"
    clock.advance(9)
    assert browser.get("/check-session").text.strip() == "User in session: Alice"
    clock.advance(2)
    reply = browser.get("/check-session")
    assert reply.text.strip() == "User in session: No session"
    assert browser.last_cookie is not None and browser.last_cookie.deletes


def test_login_rotates_the_token_and_the_old_one_opens_nothing(
    browser: Browser, manager: SessionManager, user_id: str
) -> None:
    browser.get("/set-short-session")
    before = browser.token
    assert before is not None
    login(browser, user_id)
    after = browser.token
    assert after is not None and after != before
    assert browser.last_cookie is not None and browser.last_cookie.max_age == 300
    assert browser.get("/check-session").text.strip() == f"User in session: {user_id}"
    replayed = browser.get("/check-session", token=before)
    assert replayed.text.strip() == "User in session: No session"
    assert len(manager.list_sessions(user_id)) == 1


def test_login_session_follows_set_expiry_300(browser: Browser, clock: FakeClock, user_id: str) -> None:
    login(browser, user_id)
    clock.advance(299)
    assert browser.get("/check-session").text.strip() == f"User in session: {user_id}"
    clock.advance(2)
    assert browser.get("/check-session").text.strip() == "User in session: No session"


def test_the_users_session_list(send: Send, manager: SessionManager, user_id: str) -> None:
    laptop, phone = Browser(send), Browser(send)
    assert laptop.get("/sessions").status == 401
    login(laptop, user_id)
    login(phone, user_id)
    listed = laptop.get("/sessions").json()
    assert len(listed) == 2
    assert [entry["current"] for entry in listed] == [True, False]
    devices = manager.list_sessions(user_id)
    assert {d.handle for d in devices} == {entry["handle"] for entry in listed}
    assert phone.get("/sessions").json()[0]["handle"] == listed[1]["handle"]


def test_logout_deletes_the_cookie_and_the_record(
    browser: Browser, manager: SessionManager, user_id: str
) -> None:
    login(browser, user_id)
    token = browser.token
    reply = browser.post("/logout")
    assert reply.status == 200
    assert browser.last_cookie is not None and browser.last_cookie.deletes
    assert browser.token is None
    assert reply.header("clear-site-data") == '"cookies"'
    assert manager.list_sessions(user_id) == []
    replayed = browser.get("/check-session", token=token)
    assert replayed.text.strip() == "User in session: No session"
