"""The tutorial's session flow on Sanic, with sessions in SQLite.

    python examples/sanic/app.py            # http://127.0.0.1:8000
    python examples/sanic/app.py --port 9000 --store redis://localhost:6379/0

Try it: /set-short-session, then /check-session (within 10 seconds, and after);
POST /login with username=alice, GET /sessions, POST /logout.
"""

from __future__ import annotations

import argparse
from typing import Any

from sanic import HTTPResponse, Request, Sanic, html, json, text

from sessionary import SessionManager, alogin, alogout
from sessionary.integrations.sanic import get_manager, get_session, setup

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
) -> Sanic[Any, Any]:
    app = Sanic("sessionary_example")
    setup(app, store=store, manager=manager)

    @app.get("/")
    async def index(request: Request) -> HTTPResponse:
        return html(PAGE)

    @app.get("/set-short-session")
    async def set_short_session(request: Request) -> HTTPResponse:
        session = await get_session(request)
        session.set_expiry(10)  # ends 10 seconds after the last save
        session["user"] = "Alice"
        return text("Session set for 10 seconds\n")

    @app.get("/check-session")
    async def check_session(request: Request) -> HTTPResponse:
        session = await get_session(request)
        return text(f"User in session: {session.get('user', 'No session')}\n")

    @app.post("/login")
    async def sign_in(request: Request) -> HTTPResponse:
        username = request.form.get("username")  # a real app checks a password here
        session = await get_session(request)
        await alogin(session, username)  # new token: the one sent before sign-in is dead now
        session.set_expiry(300)
        session["user"] = username
        return text(f"Logged in as {username}\n")

    @app.get("/sessions")
    async def sessions(request: Request) -> HTTPResponse:
        session = await get_session(request)
        if session.user_id is None:
            return json({"error": "not signed in"}, status=401)
        devices = await get_manager(request.app).alist_sessions(session.user_id, current=session)
        return json([{"handle": d.handle, "current": d.current} for d in devices])

    @app.post("/logout")
    async def sign_out(request: Request) -> HTTPResponse:
        await alogout(await get_session(request))  # deletes the stored session and the cookie
        return text("Logged out\n")

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--store", default="sqlite:///example-sessions.db")
    args = parser.parse_args()
    create_app(args.store).run(host=args.host, port=args.port, single_process=True, access_log=False)


if __name__ == "__main__":
    main()
