"""The demo app: the Django session-expiry tutorial, on Starlette, with sessionary's additions.

Built on sessionary's public API only: the ASGI middleware, ``alogin`` / ``alogout``, the
session's Django API and metadata, and the manager's device list. Each page says in one
line what the request did to the session and the cookie.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from .. import Config, Session, SessionManager, SessionMiddleware, Store, alogin, alogout
from ..clock import Clock
from ..dbsc.asgi import DBSCMiddleware
from ..errors import UnsupportedOperation
from . import pages

DEMO_STORE = "sqlite:///demo-sessions.db"
REMEMBER_SECONDS = 300
"""The tutorial's login: ``set_expiry(300)``."""
SHORT_SECONDS = 10
"""The tutorial's ``set_short_session`` view: ``set_expiry(10)``."""

DID = {
    "signed-in-remember": "New session ID issued at sign-in; the cookie lasts 5 minutes from each save (Max-Age=300).",
    "signed-in-browser": "New session ID issued at sign-in; the cookie ends when the browser closes (no Max-Age).",
    "signed-out": "Session deleted on the server and the cookie expired; Clear-Site-Data asked the browser to drop its cookies.",
    "saved": "Session saved: same session ID, the cookie was sent again and Django's expiry restarts from now.",
    "revoked": "That session was deleted on the server: its browser is signed out at its next request.",
    "not-found": "That session had already ended: nothing to sign out.",
    "others": "Every other session of yours was deleted; this one got a new session ID and a new cookie.",
}
"""What the last POST did, shown on the page it redirects to (``?did=...``)."""


def demo_config(**changes: Any) -> Config:
    """The demo's settings: Django's defaults plus a 15-minute idle timeout and device details."""
    settings: dict[str, Any] = {"idle_timeout": 900, "record_client": True}
    settings.update(changes)
    return Config(**settings)


def session_of(request: Request) -> Session:
    session: Session = request.scope["session"]
    return session


def manager_of(request: Request) -> SessionManager:
    manager: SessionManager = request.app.state.manager
    return manager


def deadline_rule(session: Session, config: Config, deadline: float, now: float) -> tuple[str, int]:
    """Which rule sets the server's deadline, in words, and the length of its window.

    The deadline is the earliest of Django's expiry (from the last save), the idle
    timeout (from the last request), the absolute timeout and the browser-close limit
    (from sign-in); the one that matches it is the one that ends the session.
    """

    def near(moment: float) -> bool:
        return abs(moment - deadline) < 1.5

    start = session.auth_at or session.created_at
    started = start.timestamp() if start is not None else now
    after = "sign-in" if session.auth_at is not None else "creation"
    browser_close = session.get_expire_at_browser_close()
    if config.absolute_timeout and near(started + config.absolute_timeout):
        return (
            f"Absolute timeout: {pages.duration(config.absolute_timeout)} after {after}.",
            config.absolute_timeout,
        )
    if browser_close and config.browser_close_timeout and near(started + config.browser_close_timeout):
        limit = config.browser_close_timeout
        return (
            f"Browser-close limit: {pages.duration(limit)} after {after}, whatever the browser keeps.",
            limit,
        )
    if config.idle_timeout:
        seen = session.last_seen.timestamp() if session.last_seen is not None else now
        if near(now + config.idle_timeout) or near(seen + config.idle_timeout):
            idle = pages.duration(config.idle_timeout)
            return f"Idle timeout: {idle} after your last request; each visit moves it.", config.idle_timeout
    age = int(session.get_expiry_age())
    return f"Django's expiry: {pages.duration(age)} after the last save; reading does not move it.", age


# Hosts browsers treat as a secure context over plain HTTP: a Secure cookie is kept there.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def cookie_warning(request: Request, config: Config) -> str | None:
    """Why a browser drops this page's cookie, if it does: a Secure cookie (the default)
    sent over plain HTTP to an address other than localhost is never stored."""
    host = (request.headers.get("host") or "").lower()
    hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    if not config.cookie_secure or request.url.scheme != "http":
        return None
    if hostname in LOOPBACK_HOSTS or hostname.endswith(".localhost"):
        return None
    return (
        f"This page came over plain http from {host or 'this address'}, and the cookie is Secure, so "
        "every request starts a new session and signing in cannot last. Serve the demo behind "
        "https, open it as http://localhost or http://127.0.0.1 on the machine it runs on, or, "
        "for local testing only, start it with `sessionary demo --insecure-cookie` (the cookie "
        "then lacks Secure)."
    )


async def view_of(request: Request) -> pages.SessionView:
    """Everything the page frame shows about the session, read through the public API."""
    session = session_of(request)
    manager = manager_of(request)
    config = manager.config
    cookie = pages.Cookie(
        name=config.session_cookie_name,
        secure=config.cookie_secure,
        httponly=config.cookie_httponly,
        samesite=config.cookie_samesite,
    )
    warning = cookie_warning(request, config)
    if session.session_key is not None:
        await session.aload()
    deadline: datetime | None = session.server_deadline()
    if session.is_empty() or deadline is None:
        return pages.SessionView(
            cookie,
            idle_timeout=config.idle_timeout,
            absolute_timeout=config.absolute_timeout,
            cookie_warning=warning,
        )
    now = manager.now()
    browser_close = session.get_expire_at_browser_close()
    rule, window = deadline_rule(session, config, deadline.timestamp(), now)
    return pages.SessionView(
        cookie,
        user=session.user_id,
        handle=session.handle,
        created_at=session.created_at,
        signed_in_at=session.auth_at,
        browser_close=browser_close,
        max_age=None if browser_close else int(session.get_expiry_age()),
        deadline=deadline,
        seconds_left=deadline.timestamp() - now,
        rule=rule,
        window=window,
        idle_timeout=config.idle_timeout,
        absolute_timeout=config.absolute_timeout,
        cookie_warning=warning,
    )


def what_happened(request: Request) -> str:
    """One line on what this request did to the session and the cookie, for pages that only read."""
    did = DID.get(request.query_params.get("did", ""))
    if did is not None:
        return did
    session = session_of(request)
    sent = manager_of(request).config.session_cookie_name in request.cookies
    if session.session_key is not None:
        return "Session read, data unchanged: same session ID, no cookie sent back."
    if sent:
        return "Your browser sent a cookie for a session that has ended: the server refused it and deleted the cookie."
    return "No cookie came with this request, so there is no session: nothing stored, no cookie set."


async def page(
    request: Request,
    title: str,
    body: str,
    *,
    current: str = "",
    status: int = 200,
    happened: str | None = None,
) -> HTMLResponse:
    view = await view_of(request)
    line = happened if happened is not None else what_happened(request)
    return HTMLResponse(pages.layout(title, body, view, happened=line, current=current), status_code=status)


def refused() -> Response:
    return PlainTextResponse("Cross-site form submission refused.", status_code=403)


def same_origin(request: Request) -> bool:
    """A POST from another site is refused (cookies are SameSite=Lax too; this is belt and braces)."""
    origin = request.headers.get("origin")
    if origin is not None:
        return urlsplit(origin).netloc == request.headers.get("host")
    return request.headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")


async def home(request: Request) -> Response:
    view = await view_of(request)
    return HTMLResponse(
        pages.layout("Home", pages.home(view), view, happened=what_happened(request), current="/")
    )


async def set_short_session(request: Request) -> Response:
    session = session_of(request)
    if session.session_key is not None:
        await session.aload()
    new = session.session_key is None
    await session.aset_expiry(SHORT_SECONDS)
    await session.aset("user", "Alice")
    happened = (
        "New session stored and a new session ID issued; the cookie has Max-Age=10."
        if new
        else "Session saved with set_expiry(10): same session ID, the cookie was sent again with Max-Age=10."
    )
    view = await view_of(request)
    return HTMLResponse(
        pages.layout(
            "Session set for 10 seconds",
            pages.short_session(view),
            view,
            happened=happened,
            current="/set-short-session",
        )
    )


async def check_session(request: Request) -> Response:
    user = await session_of(request).aget("user", "No session")
    return await page(
        request, f"User in session: {user}", pages.check_session(str(user)), current="/check-session"
    )


async def login(request: Request) -> Response:
    if request.method == "GET":
        return await page(request, "Sign in", pages.login_form())
    if not same_origin(request):
        return refused()
    form = await request.form()
    username = str(form.get("username", "")).strip()
    if not username or len(username) > 64:
        return await page(
            request,
            "Sign in",
            pages.login_form("Enter a user name of 1 to 64 characters."),
            status=400,
            happened="Nobody signed in: the session and the cookie are as they were.",
        )
    remember = form.get("remember") == "1"
    session = session_of(request)
    await alogin(session, username)
    await session.aset("user", username)
    await session.aset_expiry(REMEMBER_SECONDS if remember else 0)
    did = "signed-in-remember" if remember else "signed-in-browser"
    return RedirectResponse(f"/?did={did}", status_code=303)


async def save(request: Request) -> Response:
    """A write to the session: Django's expiry counts again from this save."""
    if not same_origin(request):
        return refused()
    session = session_of(request)
    saves = await session.aget("saves", 0)
    await session.aset("saves", int(saves) + 1)
    return RedirectResponse("/?did=saved", status_code=303)


async def logout(request: Request) -> Response:
    if not same_origin(request):
        return refused()
    await alogout(session_of(request))
    return RedirectResponse("/?did=signed-out", status_code=303)


async def devices(request: Request) -> Response:
    session = session_of(request)
    await session.aload()
    user = session.user_id
    if user is None:
        return await page(request, "Your devices", pages.signed_out_required(), current="/devices")
    manager = manager_of(request)
    try:
        listed = await manager.alist_sessions(user, current=session)
    except UnsupportedOperation as unsupported:
        return await page(
            request, "Your devices", pages.devices_unsupported(unsupported.reason), current="/devices"
        )
    body = pages.devices_page(user, listed, now=manager.now())
    return await page(request, "Your devices", body, current="/devices")


DeviceAction = Callable[[SessionManager, Session, str, FormData], Awaitable[str]]


async def device_action(request: Request, act: DeviceAction) -> Response:
    """What both device actions share: a same-origin form, a signed-in user, a store that
    keeps sessions server-side; ``act`` returns the ``?did=`` note."""
    if not same_origin(request):
        return refused()
    session = session_of(request)
    await session.aload()
    user = session.user_id
    if user is None:
        return RedirectResponse("/login", status_code=303)
    try:
        did = await act(manager_of(request), session, user, await request.form())
    except UnsupportedOperation:
        return RedirectResponse("/devices", status_code=303)
    return RedirectResponse(f"/devices?did={did}", status_code=303)


async def revoke(request: Request) -> Response:
    async def end_one(manager: SessionManager, session: Session, user: str, form: FormData) -> str:
        done = await manager.arevoke(user, str(form.get("handle", "")))
        return "revoked" if done else "not-found"

    return await device_action(request, end_one)


async def revoke_others(request: Request) -> Response:
    async def end_others(manager: SessionManager, session: Session, user: str, form: FormData) -> str:
        await manager.arevoke_all(user, except_current=session)
        return "others"

    return await device_action(request, end_others)


def demo_secret_keys() -> tuple[str, ...]:
    """Signing keys for the cookie:// store: ``$SESSIONARY_SECRET_KEYS`` (comma-separated,
    newest first), else a random key for this run (cookies then end with the process)."""
    configured = os.environ.get("SESSIONARY_SECRET_KEYS", "")
    keys = tuple(key.strip() for key in configured.split(",") if key.strip())
    return keys or (secrets.token_urlsafe(32),)


def create_app(
    store: str | Store = DEMO_STORE,
    *,
    config: Config | None = None,
    clock: Clock | None = None,
    host_prefix: bool = False,
    insecure_cookie: bool = False,
    dbsc: bool = False,
) -> Starlette:
    """The demo as an ASGI app (``uvicorn 'sessionary.demo:create_app' --factory`` works too).

    ``host_prefix=True`` names the cookie ``__Host-sessionid`` (Secure, Path=/, no Domain,
    enforced by the browser). ``insecure_cookie=True`` drops ``Secure``, so that a browser
    keeps the cookie over plain HTTP from another machine (local testing only).
    ``dbsc=True`` mounts Device Bound Session Credentials: a browser that supports
    them binds the signed-in session to a key it keeps.
    """
    settings = config or demo_config()
    if insecure_cookie:
        settings = settings.with_changes(cookie_secure=False)
    if host_prefix:
        settings = settings.with_changes(cookie_host_prefix=True)
    if isinstance(store, str) and store.startswith("cookie:") and not settings.secret_keys:
        settings = settings.with_changes(secret_keys=demo_secret_keys())
    manager = SessionManager(store, settings, clock=clock)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await manager.aclose()

    app = Starlette(
        lifespan=lifespan,
        routes=[
            Route("/", home),
            Route("/set-short-session", set_short_session),
            Route("/check-session", check_session),
            Route("/login", login, methods=["GET", "POST"]),
            Route("/save", save, methods=["POST"]),
            Route("/logout", logout, methods=["POST"]),
            Route("/devices", devices),
            Route("/devices/revoke", revoke, methods=["POST"]),
            Route("/devices/revoke-others", revoke_others, methods=["POST"]),
        ],
        middleware=[
            Middleware(SessionMiddleware, manager=manager),
            *([Middleware(DBSCMiddleware)] if dbsc else []),  # inside: it reads the session
        ],
    )
    app.state.manager = manager
    return app


__all__ = ["DEMO_STORE", "create_app", "demo_config"]
