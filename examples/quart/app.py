"""The tutorial's session flow on Quart, with sessions in SQLite.

    python examples/quart/app.py            # http://127.0.0.1:8000
    python examples/quart/app.py --port 9000 --store redis://localhost:6379/0

Try it: /set-short-session, then /check-session (within 10 seconds, and after);
POST /login with username=alice, GET /sessions, POST /logout.
"""

from __future__ import annotations

import argparse
from typing import Any

from quart import Quart, jsonify, request, session

from sessionary import SessionManager, alogin, alogout
from sessionary.integrations.quart import Sessionary, get_manager

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
) -> Quart:
    app = Quart(__name__)
    # No secret_key needed: the cookie holds a random token, the data stays in the store.
    Sessionary(app, store=store, manager=manager)

    @app.get("/")
    async def index() -> str:
        return PAGE

    @app.get("/set-short-session")
    async def set_short_session() -> str:
        session.set_expiry(10)  # ends 10 seconds after the last save
        await session.aset("user", "Alice")
        return "Session set for 10 seconds\n"

    @app.get("/check-session")
    async def check_session() -> str:
        return f"User in session: {await session.aget('user', 'No session')}\n"

    @app.post("/login")
    async def sign_in() -> str:
        username = (await request.form)["username"]  # a real app checks a password here
        await alogin(session, username)  # new token: the one sent before sign-in is dead now
        session.set_expiry(300)
        session["user"] = username
        return f"Logged in as {username}\n"

    @app.get("/sessions")
    async def sessions() -> tuple[Any, int]:
        await session.aload()
        if session.user_id is None:
            return jsonify(error="not signed in"), 401
        devices = await get_manager().alist_sessions(session.user_id, current=session)
        return jsonify([{"handle": d.handle, "current": d.current} for d in devices]), 200

    @app.post("/logout")
    async def sign_out() -> str:
        await alogout(session)  # deletes the stored session and the cookie
        return "Logged out\n"

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--store", default="sqlite:///example-sessions.db")
    args = parser.parse_args()
    create_app(args.store).run(host=args.host, port=args.port)


if __name__ == "__main__":
    main()
