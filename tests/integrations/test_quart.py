"""Quart specifics, through Quart's own test client: ``quart.session`` with Flask's
surface (``permanent``, ``new``, settings from the app's config), preloading, Quart's
``session_transaction``, and the fail-closed answers raised from a view."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

import pytest
from quart import Quart, session

from sessionary import SessionManager, alogin
from sessionary.integrations.quart import QuartSession, Sessionary, get_manager
from sessionary.stores import open_store
from support.spies import counting_store

from .async_clients import quart_sender
from .frameworks import Browser

BrowserFor = Callable[[Quart], Browser]


def make_app(extension: Sessionary | None = None, **config: object) -> Quart:
    app = Quart(__name__)
    app.config.update(config)

    @app.get("/set")
    async def set_value() -> str:
        await session.aset("value", "x")
        return "ok"

    @app.get("/get")
    async def get_value() -> str:
        value = await session.aget("value")
        return f"{value} permanent={session.permanent} new={session.new}"

    @app.get("/peek")
    async def peek() -> str:
        return str(session.get("value"))  # no await: needs preload to be I/O-free

    @app.get("/permanent/<int:on>")
    async def make_permanent(on: int) -> str:
        await session.aload()
        session.permanent = bool(on)
        session["value"] = "x"
        return "ok"

    @app.get("/type")
    async def session_type() -> str:
        return type(session._get_current_object()).__name__  # type: ignore[attr-defined]

    if extension is not None:
        extension.init_app(app)
    return app


@pytest.fixture
def browser_for(exit_stack: ExitStack) -> BrowserFor:
    def make(app: Quart) -> Browser:
        return Browser(quart_sender(app, exit_stack), cookie_name=get_manager(app).config.session_cookie_name)

    return make


def test_quart_session_is_a_sessionary_session_and_needs_no_secret_key(
    store_url: str, browser_for: BrowserFor
) -> None:
    app = make_app(Sessionary(store=store_url))
    assert app.secret_key is None
    client = browser_for(app)
    assert client.get("/type").text == "QuartSession"
    client.get("/set")
    assert client.last_cookie is not None
    assert client.last_cookie.max_age is None  # Flask's (and Quart's) default: not permanent
    assert client.get("/get").text == "x permanent=False new=False"


def test_permanent_uses_permanent_session_lifetime(store_url: str, browser_for: BrowserFor) -> None:
    app = make_app(PERMANENT_SESSION_LIFETIME=timedelta(hours=2))
    Sessionary(app, store=store_url)
    client = browser_for(app)
    client.get("/permanent/1")
    assert client.last_cookie is not None and client.last_cookie.max_age == 7200
    assert client.get("/get").text == "x permanent=True new=False"
    client.get("/permanent/0")
    assert client.last_cookie is not None and client.last_cookie.max_age is None


def test_settings_from_app_config_and_keywords(tmp_path: Path) -> None:
    app = make_app(
        SESSIONARY_STORE=f"sqlite:///{tmp_path}/config.db",
        SESSION_COOKIE_NAME="shop_session",
        SESSION_COOKIE_SECURE=False,  # Quart's default: sessionary's secure default stays
        SESSIONARY_EXPIRE_AT_BROWSER_CLOSE=False,
    )
    Sessionary(app, cookie_samesite="Strict")
    config = get_manager(app).config
    assert get_manager(app).store.name.endswith("config.db")
    assert (config.cookie_name, config.cookie_samesite, config.cookie_secure) == (
        "shop_session",
        "Strict",
        True,
    )
    assert config.cookie_age == 31 * 24 * 3600  # Quart's permanent_session_lifetime
    assert config.expire_at_browser_close is False


def test_unknown_setting_is_refused() -> None:
    with pytest.raises(TypeError, match="cookie_agee"):
        Sessionary(cookie_agee=10)


def test_get_manager_without_the_extension_names_the_fix() -> None:
    with pytest.raises(RuntimeError, match="not set up on this Quart app"):
        get_manager(Quart(__name__))


def test_preload_reads_once_before_the_view_and_never_without_a_cookie(
    tmp_path: Path, browser_for: BrowserFor
) -> None:
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    counted, calls = counting_store(store)
    app = make_app(Sessionary(manager=SessionManager(counted), preload=True))
    client = browser_for(app)
    client.get("/set")
    calls.clear()
    assert client.get("/peek").text == "x"
    assert calls == ["load"]
    calls.clear()
    assert client.get("/peek", token="").text == "None"
    assert calls == []


def test_without_preload_an_untouched_request_reads_nothing(tmp_path: Path, browser_for: BrowserFor) -> None:
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    counted, calls = counting_store(store)
    app = make_app(Sessionary(manager=SessionManager(counted), preload=False))

    @app.get("/untouched")
    async def untouched() -> str:
        return "ok"

    client = browser_for(app)
    client.get("/set")
    calls.clear()
    assert client.get("/untouched").set_cookies == []
    assert calls == []


@pytest.mark.asyncio
async def test_session_transaction_with_quarts_own_client(tmp_path: Path) -> None:
    app = make_app(Sessionary(store=f"sqlite:///{tmp_path}/s.db"))
    async with app.test_app() as test_app:
        client = test_app.test_client()
        async with client.session_transaction(scheme="https") as prepared:
            assert isinstance(prepared, QuartSession)
            prepared["value"] = "prepared"
        response = await client.get("/get", scheme="https")
        assert (await response.get_data(as_text=True)).startswith("prepared")


def test_a_session_deleted_during_the_request_answers_400(
    store_url: str, user_id: str, browser_for: BrowserFor
) -> None:
    app = make_app(Sessionary(store=store_url))

    @app.post("/login")
    async def sign_in() -> str:
        await alogin(session, user_id)
        return "in"

    @app.post("/signed-out-elsewhere")
    async def signed_out_elsewhere() -> str:
        await session.aload()
        assert session.handle is not None
        assert await get_manager().arevoke(user_id, session.handle)
        session["late"] = "write"  # must not bring the ended session back
        return "ok"

    client = browser_for(app)
    client.post("/login")
    reply = client.post("/signed-out-elsewhere")
    assert reply.status == 400
    assert reply.set_cookies == []
    assert get_manager(app).list_sessions(user_id) == []


def test_the_store_is_closed_when_the_app_stops_serving(tmp_path: Path) -> None:
    manager = SessionManager(f"sqlite:///{tmp_path}/s.db")
    closed: list[bool] = []
    real = manager.aclose

    async def aclose() -> None:
        closed.append(True)
        await real()

    manager.aclose = aclose  # type: ignore[method-assign]
    app = make_app(Sessionary(manager=manager))
    with ExitStack() as stack:
        quart_sender(app, stack)
        assert closed == []
    assert closed == [True]
