"""Requests that run at the same time on one session, over HTTP, on every server-side store.

Each test runs on every store of the conformance suite (memory, SQLite, Redis, Redis
Cluster, PostgreSQL, and the cached stores), through the ASGI middleware under uvicorn
and through the WSGI middleware under a threaded WSGI server, each on a free loopback
port, driven by an HTTP client sending requests in parallel. What they prove:

* requests that change different keys all keep their change;
* a slow read-only request never erases a write made while it ran (also when it is the
  one that renews the session's token);
* parallel plain increments of one key lose updates only as documented: the key ends
  with one of the values written (last writer wins), nothing else is touched;
* ``update_atomic`` loses none: 50 parallel increments add exactly 50;
* a logout or a revocation racing a slow request leaves the session deleted, whatever
  the slow request does at its end (save, atomic update, new token, touch).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from conformance.stores import FACTORIES
from sessionary import SessionManager
from sessionary.stores import Store
from sessionary.testing import FakeClock
from sessionary.tokens import store_key
from support.live_servers import KINDS, Gates, get, parallel, serve, session_cookie

pytestmark = pytest.mark.slow

PARALLEL = 30
INCREMENTS = 50


@pytest.fixture(params=sorted(FACTORIES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with FACTORIES[request.param](tmp_path) as opened:
        yield opened


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


class Site:
    def __init__(self, base: str, manager: SessionManager, gates: Gates) -> None:
        self.base = base
        self.manager = manager
        self.gates = gates

    def get(self, path: str, token: str | None = None, **params: Any) -> httpx.Response:
        return get(self.base, path, token, **params)

    def new_session(self, **values: str) -> str:
        token = None
        for name, value in values.items():
            reply = self.get("/set", token, name=name, value=value)
            assert reply.status_code == 200, reply.text
            token = token or session_cookie(reply)
        assert token
        return token

    def data(self, token: str) -> Any:
        reply = self.get("/read", token)
        assert reply.status_code == 200, reply.text
        return reply.json()

    def in_background(self, path: str, token: str, **params: Any) -> Any:
        """Start a request in a thread; the future's result is its reply."""
        pool = ThreadPoolExecutor(1)
        future = pool.submit(self.get, path, token, **params)
        pool.shutdown(wait=False)
        return future


@contextlib.contextmanager
def site(kind: str, store: Store, **settings: Any) -> Iterator[Site]:
    gates = Gates()
    manager = SessionManager(store, **settings)
    with serve(kind, manager, gates) as base:
        yield Site(base, manager, gates)


# --- different keys, and read-only requests -------------------------------------------------


def test_parallel_requests_setting_different_keys_all_survive(kind: str, store: Store) -> None:
    with site(kind, store) as app:
        token = app.new_session(base="0")
        replies = parallel(
            app.base, [("/set", token, {"name": f"k{i}", "value": str(i)}) for i in range(PARALLEL)]
        )
        assert [reply.status_code for reply in replies] == [200] * PARALLEL
        assert {session_cookie(reply) for reply in replies} == {token}
        assert app.data(token) == {"base": "0", **{f"k{i}": str(i) for i in range(PARALLEL)}}


def test_a_slow_read_only_request_never_erases_a_concurrent_write(kind: str, store: Store) -> None:
    with site(kind, store) as app:
        token = app.new_session(user="alice")
        slow = app.in_background("/read-slow", token, gate="reading")
        app.gates.wait_arrival("reading")
        assert app.get("/set", token, name="cart", value="written meanwhile").status_code == 200
        app.gates.open("reading")
        reply = slow.result()
        assert reply.status_code == 200
        assert reply.json() == {"user": "alice"}  # what it read, before the write
        assert session_cookie(reply) is None  # read-only: nothing written, no cookie
        assert app.data(token) == {"user": "alice", "cart": "written meanwhile"}


def test_a_slow_read_only_request_that_renews_the_token_keeps_a_concurrent_write(
    kind: str, store: Store
) -> None:
    """The read-only request is the one that issues the new token at its end (renewal):
    the new session gets the data as stored then, not the request's older copy."""
    clock = FakeClock(datetime.now(UTC))  # Redis keeps real deadlines: start at the real time
    with site(kind, store, clock=clock, renewal_timeout=60, renewal_grace=30) as app:
        token = app.new_session(user="alice")
        clock.advance(59)
        slow = app.in_background("/read-slow", token, gate="reading")
        app.gates.wait_arrival("reading")
        assert app.get("/set", token, name="cart", value="written meanwhile").status_code == 200
        clock.advance(2)  # the renewal is due when the slow request ends
        app.gates.open("reading")
        reply = slow.result()
        assert reply.status_code == 200
        renewed = session_cookie(reply)
        assert renewed and renewed != token
        assert app.data(renewed) == {"user": "alice", "cart": "written meanwhile"}


def test_two_writes_racing_a_renewal_both_land(kind: str, store: Store) -> None:
    """The first request to end renews the token; the other's change goes through the
    old token's grace alias into the renewed session instead of being refused."""
    clock = FakeClock(datetime.now(UTC))  # Redis keeps real deadlines: start at the real time
    with site(kind, store, clock=clock, renewal_timeout=60, renewal_grace=30) as app:
        token = app.new_session(user="alice")
        clock.advance(61)
        slow = app.in_background("/set-slow", token, name="first", value="1", gate="writing")
        app.gates.wait_arrival("writing")
        other = app.get("/set", token, name="second", value="2")
        renewed = session_cookie(other)
        assert other.status_code == 200 and renewed and renewed != token
        app.gates.open("writing")
        reply = slow.result()
        assert reply.status_code == 200, reply.text
        assert session_cookie(reply) is None  # it does not know the new token; sends none
        assert app.data(renewed) == {"user": "alice", "first": "1", "second": "2"}


# --- one key, incremented in parallel -------------------------------------------------------


def test_parallel_plain_increments_lose_updates_only_to_the_last_writer(kind: str, store: Store) -> None:
    """Documented behaviour: two requests writing the same key, the last one wins. The
    key ends with a value some request wrote; no other key is touched."""
    with site(kind, store) as app:
        token = app.new_session(other="untouched")
        replies = parallel(app.base, [("/increment", token, {"name": "n", "pause": 0.02})] * PARALLEL)
        assert [reply.status_code for reply in replies] == [200] * PARALLEL
        written = {reply.json()["n"] for reply in replies}
        final = app.data(token)
        assert final["other"] == "untouched"
        assert final["n"] in written
        assert 1 <= final["n"] <= PARALLEL


def test_parallel_atomic_increments_lose_nothing(kind: str, store: Store) -> None:
    with site(kind, store) as app:
        token = app.new_session(other="untouched")
        replies = parallel(app.base, [("/increment-atomic", token, {"name": "n"})] * INCREMENTS)
        assert [reply.status_code for reply in replies] == [200] * INCREMENTS, [r.text for r in replies]
        seen = sorted(reply.json()["n"] for reply in replies)
        assert seen == list(range(1, INCREMENTS + 1))  # each request saw its own increment
        assert app.data(token) == {"other": "untouched", "n": INCREMENTS}


# --- no resurrection ----------------------------------------------------------------------------

SLOW_REQUESTS = {
    # path, what it answers once the session is gone under it
    "set": ("/set-slow", {"name": "late", "value": "written after the logout"}, 400),
    "atomic": ("/increment-atomic-slow", {"name": "n"}, 400),
    "new-token": ("/cycle-slow", {}, 400),
    "read": ("/read-slow", {}, 200),
}


@pytest.mark.parametrize("ender", ["logout", "revoke"])
@pytest.mark.parametrize("slow_kind", sorted(SLOW_REQUESTS))
def test_a_session_ended_under_a_slow_request_stays_ended(
    kind: str, store: Store, ender: str, slow_kind: str
) -> None:
    with site(kind, store) as app:
        reply = app.get("/login", user="alice")
        token = session_cookie(reply)
        assert reply.status_code == 200 and token
        path, params, answer = SLOW_REQUESTS[slow_kind]
        slow = app.in_background(path, token, gate="slow", **params)
        app.gates.wait_arrival("slow")
        if ender == "logout":
            ended = app.get("/logout", token)
            assert ended.status_code == 200 and session_cookie(ended) == ""
        else:
            assert app.manager.revoke_all("alice") == 1
        app.gates.open("slow")
        reply = slow.result()
        assert reply.status_code == answer, reply.text
        assert session_cookie(reply) in (None, "")  # never a token for a session that ended
        # Gone for good: the token opens nothing, the store holds nothing under it.
        after = app.get("/read", token)
        assert after.json() == {} and session_cookie(after) == ""
        assert not app.manager.store.sync.exists(store_key(token))
        assert app.manager.list_sessions("alice") == []
