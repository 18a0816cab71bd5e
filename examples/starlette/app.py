"""The tutorial's session flow on Starlette, with sessions in SQLite.

    python examples/starlette/app.py        # http://127.0.0.1:8000
    python examples/starlette/app.py --port 9000 --store redis://localhost:6379/0

``request.session`` is where Starlette's own SessionMiddleware puts it; only the
middleware line differs. Try /set-short-session, /check-session, POST /login
(username=alice), /sessions, POST /logout.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse
from starlette.routing import Route

from sessionary import SessionManager, SessionMiddleware, alogin, alogout

PAGE = """<!doctype html>
<title>sessionary example</title>
<p><a href="/set-short-session">Set a 10-second session</a> ·
<a href="/check-session">Check the session</a> · <a href="/sessions">My sessions</a></p>
<form method="post" action="/login"><input name="username" placeholder="name" required>
<button>Log in</button></form>
<form method="post" action="/logout"><button>Log out</button></form>
"""


def create_app(
    store: str = "sqlite:///example-sessions.db", *, manager: SessionManager | None = None
) -> Starlette:
    manager = manager or SessionManager(store)

    async def index(request: Request) -> HTMLResponse:
        return HTMLResponse(PAGE)

    async def set_short_session(request: Request) -> PlainTextResponse:
        request.session.set_expiry(10)  # ends 10 seconds after the last save
        request.session["user"] = "Alice"
        return PlainTextResponse("Session set for 10 seconds\n")

    async def check_session(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"User in session: {request.session.get('user', 'No session')}\n")

    async def login(request: Request) -> PlainTextResponse:
        username = str((await request.form())["username"])  # a real app checks a password here
        await alogin(request.session, username)  # new token: the one sent before sign-in is dead now
        request.session.set_expiry(300)
        request.session["user"] = username
        return PlainTextResponse(f"Logged in as {username}\n")

    async def sessions(request: Request) -> JSONResponse:
        user_id = request.session.user_id
        if user_id is None:
            return JSONResponse({"error": "not signed in"}, status_code=401)
        devices = await manager.alist_sessions(user_id, current=request.session)
        return JSONResponse([{"handle": d.handle, "current": d.current} for d in devices])

    async def logout(request: Request) -> PlainTextResponse:
        await alogout(request.session)  # deletes the stored session and the cookie
        return PlainTextResponse("Logged out\n")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await manager.aclose()

    return Starlette(
        routes=[
            Route("/", index),
            Route("/set-short-session", set_short_session),
            Route("/check-session", check_session),
            Route("/login", login, methods=["POST"]),
            Route("/sessions", sessions),
            Route("/logout", logout, methods=["POST"]),
        ],
        # preload: the session is read (asynchronously) before the view runs, so the
        # plain dict access in the views above never waits on the store.
        middleware=[Middleware(SessionMiddleware, manager=manager, preload=True)],
        lifespan=lifespan,
    )


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--store", default="sqlite:///example-sessions.db")
    args = parser.parse_args()
    uvicorn.run(create_app(args.store), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
