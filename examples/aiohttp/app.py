"""The tutorial's session flow on aiohttp.web, with sessions in SQLite.

    python examples/aiohttp/app.py            # http://127.0.0.1:8000
    python examples/aiohttp/app.py --port 9000 --store redis://localhost:6379/0

Try it: /set-short-session, then /check-session (within 10 seconds, and after);
POST /login with username=alice, GET /sessions, POST /logout.
"""

from __future__ import annotations

import argparse

from aiohttp import web

from sessionary import SessionManager, alogin, alogout
from sessionary.integrations.aiohttp import get_manager, get_session, setup

PAGE = """<!doctype html>
<title>sessionary example</title>
<p><a href="/set-short-session">Set a 10-second session</a> ·
<a href="/check-session">Check the session</a> · <a href="/sessions">My sessions</a></p>
<form method="post" action="/login"><input name="username" placeholder="name" required>
<button>Log in</button></form>
<form method="post" action="/logout"><button>Log out</button></form>
"""

routes = web.RouteTableDef()


@routes.get("/")
async def index(request: web.Request) -> web.Response:
    return web.Response(text=PAGE, content_type="text/html")


@routes.get("/set-short-session")
async def set_short_session(request: web.Request) -> web.Response:
    session = await get_session(request)
    session.set_expiry(10)  # ends 10 seconds after the last save
    session["user"] = "Alice"
    return web.Response(text="Session set for 10 seconds\n")


@routes.get("/check-session")
async def check_session(request: web.Request) -> web.Response:
    session = await get_session(request)
    return web.Response(text=f"User in session: {session.get('user', 'No session')}\n")


@routes.post("/login")
async def sign_in(request: web.Request) -> web.Response:
    username = str((await request.post())["username"])  # a real app checks a password here
    session = await get_session(request)
    await alogin(session, username)  # new token: the one sent before sign-in is dead now
    session.set_expiry(300)
    session["user"] = username
    return web.Response(text=f"Logged in as {username}\n")


@routes.get("/sessions")
async def sessions(request: web.Request) -> web.Response:
    session = await get_session(request)
    if session.user_id is None:
        return web.json_response({"error": "not signed in"}, status=401)
    devices = await get_manager(request.app).alist_sessions(session.user_id, current=session)
    return web.json_response([{"handle": d.handle, "current": d.current} for d in devices])


@routes.post("/logout")
async def sign_out(request: web.Request) -> web.Response:
    await alogout(await get_session(request))  # deletes the stored session and the cookie
    return web.Response(text="Logged out\n")


def create_app(
    store: str = "sqlite:///example-sessions.db", *, manager: SessionManager | None = None
) -> web.Application:
    app = web.Application()
    setup(app, store=store, manager=manager)
    app.add_routes(routes)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--store", default="sqlite:///example-sessions.db")
    args = parser.parse_args()
    web.run_app(create_app(args.store), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
