"""The demo app: the Django session-expiry tutorial, on Starlette, with sessionary's additions.

Built on sessionary's public API only: the ASGI middleware, ``alogin`` / ``alogout``, the
session's Django API and the manager's device list.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from .. import Config, SessionManager, SessionMiddleware, alogin, alogout
from ..clock import Clock
from ..session import Session
from ..stores import Store
from . import pages

DEMO_STORE = "sqlite:///demo-sessions.db"
REMEMBER_SECONDS = 300
"""The tutorial's login: ``set_expiry(300)``."""

NOTES = {
    "signed-in-remember": "New session ID issued at sign-in; the cookie lasts 5 minutes (set_expiry(300)) from each save.",
    "signed-in-browser": "New session ID issued at sign-in; the cookie ends when the browser closes (set_expiry(0)).",
    "signed-out": "Session deleted on the server and the cookie expired; Clear-Site-Data asked the browser to drop its cookies.",
    "revoked": "That session was deleted on the server: its browser is signed out at its next request.",
    "not-found": "That session had already ended.",
    "others": "Every other session of yours was deleted; this one got a new session ID.",
}


def demo_config(**changes: Any) -> Config:
    """The demo's settings: Django's defaults plus a 15-minute idle timeout and device details."""
    settings: dict[str, Any] = {"idle_timeout": 900, "record_client": True}
    settings.update(changes)
    return Config(**settings)


def session_of(request: Request) -> Session:
    session: Session = request.scope["session"]
    return session


async def view_of(session: Session) -> pages.SessionView:
    """Everything the side panel shows, read through the public API."""
    if session.session_key is not None:
        await session.aload()
    if session.is_empty():
        return pages.SessionView(None, None, None, None, False, None, None, None, None, None)
    config = session._manager.config
    browser_close = session.get_expire_at_browser_close()
    return pages.SessionView(
        user=session.user_id,
        handle=session.handle,
        created_at=session.created_at,
        signed_in_at=session.auth_at,
        browser_close=browser_close,
        expiry_age=None if browser_close else session.get_expiry_age(),
        expiry_date=session.get_expiry_date(),
        server_deadline=session.server_deadline(),
        idle_timeout=config.idle_timeout,
        absolute_timeout=config.absolute_timeout,
    )


def same_origin(request: Request) -> bool:
    """A POST from another site is refused (cookies are SameSite=Lax too; this is belt and braces)."""
    origin = request.headers.get("origin")
    if origin is not None:
        return urlsplit(origin).netloc == request.headers.get("host")
    return request.headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")


async def page(
    request: Request, title: str, body: str, *, current: str = "", status: int = 200
) -> HTMLResponse:
    view = await view_of(session_of(request))
    note = NOTES.get(request.query_params.get("did", ""))
    return HTMLResponse(pages.layout(title, body, view, current=current, note=note), status_code=status)


async def home(request: Request) -> Response:
    view = await view_of(session_of(request))
    note = NOTES.get(request.query_params.get("did", ""))
    return HTMLResponse(pages.layout("Home", pages.home(view), view, current="/", note=note))


async def set_short_session(request: Request) -> Response:
    session = session_of(request)
    await session.aset_expiry(10)
    await session.aset("user", "Alice")
    return await page(
        request, "Session set for 10 seconds", pages.short_session(), current="/set-short-session"
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
        return PlainTextResponse("Cross-site form submission refused.", status_code=403)
    form = await request.form()
    username = str(form.get("username", "")).strip()
    if not username or len(username) > 64:
        return await page(
            request, "Sign in", pages.login_form("Enter a user name of 1 to 64 characters."), status=400
        )
    remember = form.get("remember") == "1"
    session = session_of(request)
    await alogin(session, username)
    await session.aset("user", username)
    await session.aset_expiry(REMEMBER_SECONDS if remember else 0)
    did = "signed-in-remember" if remember else "signed-in-browser"
    return RedirectResponse(f"/?did={did}", status_code=303)


async def logout(request: Request) -> Response:
    if not same_origin(request):
        return PlainTextResponse("Cross-site form submission refused.", status_code=403)
    await alogout(session_of(request))
    return RedirectResponse("/?did=signed-out", status_code=303)


async def devices(request: Request) -> Response:
    session = session_of(request)
    await session.aload()
    user = session.user_id
    if user is None:
        return await page(request, "Your devices", pages.signed_out_required(), current="/devices")
    manager: SessionManager = request.app.state.manager
    listed = await manager.alist_sessions(user, current=session)
    return await page(request, "Your devices", pages.devices_page(user, listed), current="/devices")


async def revoke(request: Request) -> Response:
    if not same_origin(request):
        return PlainTextResponse("Cross-site form submission refused.", status_code=403)
    session = session_of(request)
    await session.aload()
    user = session.user_id
    if user is None:
        return RedirectResponse("/login", status_code=303)
    form = await request.form()
    manager: SessionManager = request.app.state.manager
    done = await manager.arevoke(user, str(form.get("handle", "")))
    return RedirectResponse(f"/devices?did={'revoked' if done else 'not-found'}", status_code=303)


async def revoke_others(request: Request) -> Response:
    if not same_origin(request):
        return PlainTextResponse("Cross-site form submission refused.", status_code=403)
    session = session_of(request)
    await session.aload()
    user = session.user_id
    if user is None:
        return RedirectResponse("/login", status_code=303)
    manager: SessionManager = request.app.state.manager
    await manager.arevoke_all(user, except_current=session)
    return RedirectResponse("/devices?did=others", status_code=303)


def create_app(
    store: str | Store = DEMO_STORE,
    *,
    config: Config | None = None,
    clock: Clock | None = None,
) -> Starlette:
    """The demo as an ASGI app (``uvicorn 'sessionary.demo:create_app' --factory`` works too)."""
    manager = SessionManager(store, config or demo_config(), clock=clock)
    app = Starlette(
        routes=[
            Route("/", home),
            Route("/set-short-session", set_short_session),
            Route("/check-session", check_session),
            Route("/login", login, methods=["GET", "POST"]),
            Route("/logout", logout, methods=["POST"]),
            Route("/devices", devices),
            Route("/devices/revoke", revoke, methods=["POST"]),
            Route("/devices/revoke-others", revoke_others, methods=["POST"]),
        ],
        middleware=[Middleware(SessionMiddleware, manager=manager)],
    )
    app.state.manager = manager
    return app


__all__ = ["DEMO_STORE", "create_app", "demo_config"]
