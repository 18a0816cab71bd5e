"""``blocking_store_calls``: a sync store call on a running event loop, and the store work
an async view leaves to the async end of its request.

Real stores (SQLite files, the memory and cookie stores), a real event loop
(``asyncio.run``) and sessionary's own session; the framework integrations run the same
rules in tests/integrations/test_event_loop.py.
"""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path

import pytest

import sessionary
from sessionary import BlockingCallError, BlockingCallWarning, Config, ConfigError, Session, SessionManager
from sessionary.integrations.asgi import SessionMiddleware


def signed_in_cookie(manager: SessionManager) -> str:
    """A cookie header naming a stored session with ``value`` set."""
    session = manager.open(None)
    session["value"] = "stored"
    outcome = manager.close_session(session, 200)
    assert outcome.set_cookie is not None
    return outcome.set_cookie.split(";", 1)[0]


def test_a_bad_value_is_refused_with_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"blocking_store_calls: 'loud' is not 'raise', 'warn' or 'allow'"):
        Config(blocking_store_calls="loud")  # type: ignore[arg-type]
    for value in ("raise", "warn", "allow", None):
        assert Config(blocking_store_calls=value).blocking_store_calls == value  # type: ignore[arg-type]


def test_the_errors_are_exported() -> None:
    assert sessionary.BlockingCallError is BlockingCallError
    assert issubclass(BlockingCallError, sessionary.SessionaryError)
    assert issubclass(BlockingCallWarning, RuntimeWarning)


def test_a_load_on_the_loop_raises_and_sends_nothing(tmp_path: Path) -> None:
    manager = SessionManager(f"sqlite:///{tmp_path}/s.db", blocking_store_calls="raise")
    cookie = signed_in_cookie(manager)  # no loop here: allowed

    async def view() -> None:
        session = manager.open(cookie)
        with pytest.raises(BlockingCallError) as raised:
            session["value"]
        message = str(raised.value)
        assert raised.value.call == "load"
        assert "load on sqlite:///" in message and "view() at " in message and "test_blocking.py" in message
        assert "await session.aload()" in message and "preload=True" in message
        assert await session.aget("value") == "stored"  # the async API still works

    asyncio.run(view())


def test_warn_lets_it_through_once_per_call_site(tmp_path: Path) -> None:
    manager = SessionManager(f"sqlite:///{tmp_path}/s.db", blocking_store_calls="warn")
    cookie = signed_in_cookie(manager)

    async def view() -> list[str]:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            values = [manager.open(cookie)["value"] for _ in range(3)]  # one call site
            assert values == ["stored"] * 3
        return [str(w.message) for w in seen if w.category is BlockingCallWarning]

    messages = asyncio.run(view())
    assert len(messages) == 1 and "load on sqlite:///" in messages[0]


def test_allow_and_the_default_let_it_through_silently(tmp_path: Path) -> None:
    for settings in ({"blocking_store_calls": "allow"}, {}):
        manager = SessionManager(f"sqlite:///{tmp_path}/s.db", **settings)  # type: ignore[arg-type]
        assert manager.blocking_store_calls == "allow"
        cookie = signed_in_cookie(manager)

        async def view(manager: SessionManager = manager, cookie: str = cookie) -> str:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                value: str = manager.open(cookie)["value"]
                return value

        assert asyncio.run(view()) == "stored"


@pytest.mark.parametrize("url", ["memory://", "cookie://", "sqlite:///{tmp}/inline.db?async=inline"])
def test_stores_whose_sync_calls_never_block_more_than_their_async_ones(url: str, tmp_path: Path) -> None:
    """memory:// and cookie:// never wait on I/O; SQLite with async=inline runs its sync
    face on the loop anyway, so a sync call there blocks no more."""
    manager = SessionManager(url.format(tmp=tmp_path), blocking_store_calls="raise", secret_keys=("k" * 32,))
    cookie = signed_in_cookie(manager)

    async def view() -> str:
        session = manager.open(cookie)
        value: str = session["value"]
        sessionary.login(session, "alice")
        session.save()
        return value

    assert asyncio.run(view()) == "stored"


def test_sqlite_on_a_worker_thread_counts(tmp_path: Path) -> None:
    manager = SessionManager(f"sqlite:///{tmp_path}/s.db?async=thread", blocking_store_calls="raise")
    assert manager.store.sync_blocks_loop

    async def view() -> None:
        with pytest.raises(BlockingCallError, match="count on sqlite"):
            manager.stats()

    asyncio.run(view())


def test_without_a_running_loop_nothing_is_checked(tmp_path: Path) -> None:
    manager = SessionManager(f"sqlite:///{tmp_path}/s.db", blocking_store_calls="raise")
    cookie = signed_in_cookie(manager)
    assert manager.open(cookie)["value"] == "stored"
    assert manager.stats().live == 1


def test_deferred_store_work_keeps_what_the_view_changed_after_it(tmp_path: Path) -> None:
    """login() in an async view decides at once and rotates at the async end of the
    request; a key set after it, and timeouts set after it, still reach the store."""
    manager = SessionManager(f"sqlite:///{tmp_path}/s.db", blocking_store_calls="raise")
    cookie = signed_in_cookie(manager)

    async def request() -> str:
        session = manager.open(cookie)
        session.state.defers = True  # what an async integration marks
        await session.aload()
        old = session.session_key
        sessionary.login(session, "alice")
        assert session.user_id == "alice"  # decided at once
        assert session.session_key == old  # the new token comes with the save
        assert session.state.deferred
        session["cart"] = ["book"]
        session.set_timeouts(idle=600)
        outcome = await manager.aclose_session(session, 200)
        assert outcome.set_cookie is not None and session.session_key != old
        return outcome.set_cookie.split(";", 1)[0]

    new_cookie = asyncio.run(request())
    assert manager.open(cookie).get("value") is None  # the old token is dead
    session = manager.open(new_cookie)
    assert (session["value"], session["cart"], session.user_id) == ("stored", ["book"], "alice")
    assert session.state.record is not None and session.state.record.meta.idle_timeout == 600


def test_deferred_logout_then_login_run_in_order(tmp_path: Path) -> None:
    manager = SessionManager(f"sqlite:///{tmp_path}/s.db", blocking_store_calls="raise")
    cookie = signed_in_cookie(manager)

    async def request() -> str | None:
        session = manager.open(cookie)
        session.state.defers = True
        await session.aload()
        sessionary.logout(session)
        sessionary.login(session, "bob")  # queued behind the logout
        outcome = await manager.aclose_session(session, 200)
        return None if outcome.set_cookie is None else outcome.set_cookie.split(";", 1)[0]

    new_cookie = asyncio.run(request())
    assert manager.open(cookie).get("value") is None
    assert new_cookie is not None
    session = manager.open(new_cookie)
    assert session.user_id == "bob" and session.get("value") is None


def test_an_explicit_save_after_deferred_work_settles_it_first(tmp_path: Path) -> None:
    """save() and update_atomic() cannot wait for the end of the request: they do the
    deferred work first, on the sync face, and so fall under blocking_store_calls."""
    manager = SessionManager(f"sqlite:///{tmp_path}/s.db", blocking_store_calls="raise")
    cookie = signed_in_cookie(manager)

    async def request() -> None:
        session = manager.open(cookie)
        session.state.defers = True
        await session.aload()
        session.cycle_key()
        with pytest.raises(BlockingCallError, match="rotate on sqlite"):
            session.save()
        assert session.state.deferred  # refused, and the rotation still waits
        await session.asave()  # the async form settles on the async face
        assert not session.state.deferred

    asyncio.run(request())
    assert manager.open(cookie).get("value") is None  # the rotation happened: the old token is dead


def test_a_deferred_logout_still_deletes_when_the_view_then_raises(tmp_path: Path) -> None:
    """Through the ASGI middleware with preload=True: a view that signs out and then
    raises answers with its error, and the stored session is deleted all the same."""
    manager = SessionManager(f"sqlite:///{tmp_path}/s.db", blocking_store_calls="raise")
    cookie = signed_in_cookie(manager)
    seen: list[object] = []

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        session = scope["session"]
        assert isinstance(session, Session)
        sessionary.logout(session)
        seen.append(session.state.deferred)
        raise LookupError("the view failed after signing out")

    middleware = SessionMiddleware(app, manager=manager, preload=True)

    async def request() -> None:
        scope = {"type": "http", "headers": [(b"cookie", cookie.encode())], "client": ("127.0.0.1", 1)}

        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": b""}

        async def send(message: object) -> None:
            raise AssertionError("nothing is sent for a view that raised")

        with pytest.raises(LookupError):
            await middleware(scope, receive, send)

    asyncio.run(request())
    assert seen and seen[0]  # the delete was deferred
    assert manager.open(cookie).get("value") is None  # and done after the error


def test_the_asgi_middleware_stays_lazy_and_allows_by_default(tmp_path: Path) -> None:
    async def app(scope: object, receive: object, send: object) -> None:
        raise AssertionError("not called")

    lazy = SessionMiddleware(app, store=f"sqlite:///{tmp_path}/a.db")
    assert (lazy.preload, lazy.manager.blocking_store_calls) == (False, "allow")
    preloaded = SessionMiddleware(app, store=f"sqlite:///{tmp_path}/b.db", preload=True)
    assert preloaded.manager.blocking_store_calls == "warn"
    chosen = SessionMiddleware(
        app, store=f"sqlite:///{tmp_path}/c.db", preload=True, blocking_store_calls="allow"
    )
    assert chosen.manager.blocking_store_calls == "allow"
