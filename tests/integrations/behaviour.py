"""The behaviour every integration owes, as one set of tests each framework's file reuses.

A framework's test file subclasses :class:`Behaviour` (``class TestFalconWSGI(Behaviour)``)
and gives it ``serve``: a function that builds that framework's app with the routes below
on a :class:`SessionManager` and returns a :class:`Browser` driving it through the
framework's own test client.

Routes each app has:

* ``GET /untouched`` answers "ok" and never touches the session;
* ``GET /read`` answers ``session.get("value")``;
* ``POST /write`` sets ``session["value"] = "x"``;
* ``POST /expiry/<seconds>`` sets ``value`` and ``set_expiry(seconds)``;
* ``POST /login/<user>`` calls ``sessionary.login`` (``alogin`` in async frameworks);
* ``POST /logout`` calls ``sessionary.logout`` (``alogout``);
* ``GET /devices`` answers the signed-in user's session handles (through the manager),
  this one first;
* ``POST /ended-elsewhere`` reads the session, has the manager revoke it (another
  device signing it out), then writes to it;
* ``GET /boom`` raises an unrelated error.

The tests run on every store (the ``store_url`` fixture), on the spied SQLite store
(:mod:`spies`) for what a request asks of its store, and on a Redis URL where nothing
listens for a store that is down.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import pytest

from sessionary import SessionManager
from sessionary.stores import open_store
from sessionary.testing import FakeClock
from support.services import free_port
from support.spies import RecordingSQLite, counting_store, recording_store

from .frameworks import Browser

Serve = Callable[[SessionManager], Browser]


class Behaviour:
    """Cookies, expiry, sign-in rotation, logout, replay, fail closed, no needless store calls."""

    preloads: ClassVar[bool] = False
    """True where the integration reads the session before the view whenever the request
    carries a session cookie (async frameworks, so that views never block on the store)."""

    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock(datetime.now(UTC).replace(microsecond=0))

    @pytest.fixture
    def manager(self, store_url: str, clock: FakeClock) -> Iterator[SessionManager]:
        manager = SessionManager(store_url, clock=clock)
        yield manager
        manager.close()

    @pytest.fixture
    def spied(self, tmp_path: Path, clock: FakeClock) -> Iterator[tuple[SessionManager, RecordingSQLite]]:
        store, backend = recording_store(tmp_path / "spied.db")
        manager = SessionManager(store, clock=clock)
        yield manager, backend
        manager.close()

    # --- cookies and expiry ----------------------------------------------------------

    def test_a_write_sets_a_secure_session_cookie(self, serve: Serve, manager: SessionManager) -> None:
        browser = serve(manager)
        reply = browser.post("/write")
        assert reply.status == 200, reply.text
        cookie = browser.last_cookie
        assert cookie is not None and cookie.name == "__Host-sessionid"
        assert {"httponly", "secure"} <= set(cookie.attributes)
        assert cookie.attributes["samesite"] == "Lax"
        assert cookie.attributes["path"] == "/"
        assert cookie.max_age == manager.config.cookie_age
        assert "Cookie" in (reply.header("vary") or "")
        assert "no-store" in (reply.header("cache-control") or "")
        assert browser.get("/read").text == "x"

    def test_set_expiry_is_the_cookie_and_the_server_deadline(
        self, serve: Serve, manager: SessionManager, clock: FakeClock
    ) -> None:
        browser = serve(manager)
        browser.post("/expiry/60")
        assert browser.last_cookie is not None and browser.last_cookie.max_age == 60
        clock.advance(59)
        assert browser.get("/read").text == "x"
        clock.advance(2)
        reply = browser.get("/read")
        assert reply.text == "None"
        assert browser.last_cookie is not None and browser.last_cookie.deletes

    def test_browser_close_session_has_no_max_age(self, serve: Serve, manager: SessionManager) -> None:
        browser = serve(manager)
        browser.post("/expiry/0")
        cookie = browser.last_cookie
        assert cookie is not None and cookie.max_age is None and "expires" not in cookie.attributes

    # --- sign-in, sign-out, a user's sessions ----------------------------------------

    def test_login_rotates_and_the_old_token_opens_nothing(
        self, serve: Serve, manager: SessionManager, user_id: str
    ) -> None:
        browser = serve(manager)
        browser.post("/write")
        anonymous = browser.token
        assert browser.post(f"/login/{user_id}").status == 200
        assert browser.token not in (None, anonymous)
        assert browser.get("/read").text == "x"  # the data came along
        assert browser.get("/read", token=anonymous).text == "None"
        assert [d.handle for d in manager.list_sessions(user_id)] == json.loads(browser.get("/devices").text)

    def test_logout_deletes_the_record_and_the_cookie(
        self, serve: Serve, manager: SessionManager, user_id: str
    ) -> None:
        browser, other = serve(manager), serve(manager)
        browser.post(f"/login/{user_id}")
        other.post(f"/login/{user_id}")
        assert len(json.loads(browser.get("/devices").text)) == 2
        signed_in = browser.token
        reply = browser.post("/logout")
        assert reply.status == 200
        assert browser.last_cookie is not None and browser.last_cookie.deletes
        assert reply.header("clear-site-data") == '"cookies"'
        assert browser.get("/read", token=signed_in).text == "None"
        assert [d.handle for d in manager.list_sessions(user_id)] == json.loads(other.get("/devices").text)

    def test_a_forged_cookie_is_never_adopted(self, serve: Serve, manager: SessionManager) -> None:
        browser = serve(manager)
        forged = "A" * 43
        browser.post("/write", token=forged)
        assert browser.last_cookie is not None and browser.last_cookie.value != forged

    @pytest.mark.parametrize("url", ["cookie://", "memory://"])
    def test_the_cookie_and_memory_stores(
        self, serve: Serve, url: str, user_id: str, clock: FakeClock
    ) -> None:
        manager = SessionManager(url, clock=clock, secret_keys=("a-signing-key-for-the-tests",))
        try:
            browser = serve(manager)
            browser.post("/expiry/60")
            assert browser.last_cookie is not None and browser.last_cookie.max_age == 60
            assert browser.get("/read").text == "x"
            browser.post(f"/login/{user_id}")
            assert browser.get("/read").text == "x"
            browser.post("/logout")
            assert browser.last_cookie is not None and browser.last_cookie.deletes
            assert browser.get("/read").text == "None"
        finally:
            manager.close()

    # --- what a request asks of its store --------------------------------------------

    def test_untouched_requests_make_no_store_call(
        self, serve: Serve, tmp_path: Path, clock: FakeClock
    ) -> None:
        store, calls = counting_store(open_store(f"sqlite:///{tmp_path}/counted.db"))
        manager = SessionManager(store, clock=clock)
        try:
            browser = serve(manager)
            assert browser.get("/untouched").set_cookies == []
            assert browser.get("/read").set_cookies == []  # an empty session stores nothing
            assert calls == []
            browser.post("/write")
            calls.clear()
            reply = browser.get("/untouched")
            assert reply.set_cookies == []
            assert calls == (["load"] if self.preloads else [])
            calls.clear()
            assert browser.get("/read").text == "x"
            assert calls == ["load"]  # one read, no write
        finally:
            manager.close()

    # --- failing closed --------------------------------------------------------------

    def test_a_store_failure_answers_503_without_a_cookie(
        self, serve: Serve, spied: tuple[SessionManager, RecordingSQLite]
    ) -> None:
        manager, backend = spied
        browser = serve(manager)
        browser.post("/write")
        backend.failing.add("load")
        reply = browser.get("/read")
        assert reply.status == 503
        assert reply.set_cookies == []
        assert reply.header("retry-after") == "5"
        backend.failing.clear()
        assert browser.get("/read").text == "x"  # nothing was lost

    def test_a_failing_save_answers_503(
        self, serve: Serve, spied: tuple[SessionManager, RecordingSQLite]
    ) -> None:
        manager, backend = spied
        browser = serve(manager)
        backend.failing.add("create")
        reply = browser.post("/write")
        assert (reply.status, reply.set_cookies) == (503, [])

    def test_a_redis_that_is_down_answers_503(self, serve: Serve, tmp_path: Path) -> None:
        pytest.importorskip("redis")
        manager = SessionManager(f"redis://127.0.0.1:{free_port()}/0?prefix=sessionary-test-down:")
        try:
            browser = serve(manager)
            assert browser.get("/untouched").status == 200  # no store call, so no failure
            reply = browser.post("/write")
            assert (reply.status, reply.set_cookies) == (503, [])
            reply = browser.get("/read", token="B" * 43)
            assert (reply.status, reply.set_cookies) == (503, [])
        finally:
            manager.close()

    def test_a_corrupted_record_answers_503(self, serve: Serve, tmp_path: Path) -> None:
        path = tmp_path / "corrupt.db"
        manager = SessionManager(f"sqlite:///{path}")
        try:
            browser = serve(manager)
            browser.post("/write")
            with sqlite3.connect(path) as db:
                db.execute("UPDATE sessionary_sessions SET data = 'not json'")
            reply = browser.get("/read")
            assert (reply.status, reply.set_cookies) == (503, [])
        finally:
            manager.close()

    def test_a_session_ended_elsewhere_answers_400(
        self, serve: Serve, manager: SessionManager, user_id: str
    ) -> None:
        browser = serve(manager)
        browser.post(f"/login/{user_id}")
        reply = browser.post("/ended-elsewhere")
        assert (reply.status, reply.set_cookies) == (400, [])
        assert manager.list_sessions(user_id) == []

    def test_an_unrelated_error_is_left_alone(self, serve: Serve, manager: SessionManager) -> None:
        reply = serve(manager).get("/boom")
        assert (reply.status, reply.set_cookies) == (500, [])
