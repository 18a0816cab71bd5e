"""What every async framework integration must do, through each framework's own test
client, on every store: untouched requests cost no store call, requests use only the
store's async face (nothing waits on the sync client inside the event loop), and a
failing store fails closed (503, no cookie).

The example apps (examples/<framework>/app.py) are the apps under test; the tutorial
flow itself (cookies, expiry, rotation, logout, the user's sessions) runs on them in
test_tutorial_flow.py, and each framework's own API in test_<framework>.py.
"""

from __future__ import annotations

import sqlite3
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sessionary import SessionManager
from sessionary.testing import FakeClock
from support.spies import Faces, recording_store

from .async_clients import ASYNC_FRAMEWORKS, async_sender
from .frameworks import Browser, example_sender


@pytest.fixture(params=ASYNC_FRAMEWORKS)
def framework(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def browser_on(framework: str, manager: SessionManager, stack: ExitStack) -> Browser:
    return Browser(example_sender(framework, manager, stack))


PRELOADED = ("quart", "sanic")
"""Integrations that read the session (asynchronously) before the view whenever the
request carries a session cookie; aiohttp and Tornado hand it out through awaited accessors."""


def test_untouched_requests_make_no_store_call(framework: str, faces: Faces, exit_stack: ExitStack) -> None:
    """No store call for an untouched request; where the integration preloads, one async
    read for one that carries a cookie (and a cookie naming no session is deleted)."""
    browser = browser_on(framework, SessionManager(faces.store), exit_stack)
    browser.get("/set-short-session")
    live = browser.token
    assert live is not None
    faces.clear()
    preloads = framework in PRELOADED
    for token in (None, live, "A" * 43):  # none, a live one, one the server never issued
        reply = browser.get("/", token=token or "")
        assert reply.status == 200
        if preloads and token == "A" * 43:
            assert len(reply.set_cookies) == 1 and "Max-Age=0" in reply.set_cookies[0]
        else:
            assert reply.set_cookies == []
            assert reply.header("vary") is None
    assert faces.sync == []
    assert faces.aio == (["load", "load"] if preloads else [])


def test_requests_use_only_the_async_face(
    framework: str, faces: Faces, exit_stack: ExitStack, user_id: str
) -> None:
    browser = browser_on(framework, SessionManager(faces.store), exit_stack)
    browser.get("/set-short-session")
    assert browser.get("/check-session").text.strip() == "User in session: Alice"
    assert browser.post("/login", form={"username": user_id}).status == 200
    assert len(browser.get("/sessions").json()) == 1
    assert browser.post("/logout").status == 200
    assert browser.get("/check-session").text.strip() == "User in session: No session"
    assert faces.sync == []
    assert {"create", "load", "rotate", "delete"} <= set(faces.aio)


def test_a_store_that_cannot_be_opened_answers_503_and_sets_no_cookie(
    framework: str, tmp_path: Path, exit_stack: ExitStack
) -> None:
    manager = SessionManager(f"sqlite:///{tmp_path}/missing-directory/sessions.db")
    browser = browser_on(framework, manager, exit_stack)
    reply = browser.get("/set-short-session")
    assert reply.status == 503
    assert reply.header("retry-after") == "5"
    assert reply.set_cookies == []
    assert "unavailable" in reply.text


@pytest.mark.parametrize(("failing", "path"), [("load", "/check-session"), ("write", "/set-short-session")])
def test_a_failing_store_answers_503_and_sets_no_cookie(
    framework: str, tmp_path: Path, exit_stack: ExitStack, failing: str, path: str
) -> None:
    store, backend = recording_store(tmp_path / "sessions.db")
    browser = browser_on(framework, SessionManager(store, clock=FakeClock(datetime.now(UTC))), exit_stack)
    browser.get("/set-short-session")  # a live session, so the next request reads and writes it
    token = browser.token
    backend.failing.add(failing)
    reply = browser.get(path)
    assert reply.status == 503, reply.text
    assert reply.set_cookies == []
    assert failing in backend.calls
    backend.failing.clear()
    assert browser.token == token  # the browser keeps its cookie for when the store is back
    assert browser.get("/check-session").text.strip() == "User in session: Alice"


def test_a_corrupted_record_answers_503(framework: str, tmp_path: Path, exit_stack: ExitStack) -> None:
    path = tmp_path / "sessions.db"
    browser = browser_on(framework, SessionManager(f"sqlite:///{path}"), exit_stack)
    browser.get("/set-short-session")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE sessionary_sessions SET data = 'not json'")
    reply = browser.get("/check-session")
    assert reply.status == 503
    assert reply.set_cookies == []


def test_a_value_that_cannot_be_stored_answers_500_and_saves_nothing(
    framework: str, tmp_path: Path, exit_stack: ExitStack
) -> None:
    from .async_clients import unstorable_app

    manager = SessionManager(f"sqlite:///{tmp_path}/sessions.db")
    browser = Browser(async_sender(framework, unstorable_app(framework, manager), exit_stack))
    reply = browser.get("/")
    assert reply.status == 500
    assert reply.set_cookies == []
    assert manager.stats().live == 0
