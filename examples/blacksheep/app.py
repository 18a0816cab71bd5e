"""The tutorial's session flow on BlackSheep, with sessions in SQLite.

    python examples/blacksheep/app.py       # http://127.0.0.1:8000
    python examples/blacksheep/app.py --port 9000 --store redis://localhost:6379/0

``request.session`` is where BlackSheep's own sessions put it; only the
``use_sessions`` line differs. Try /set-short-session, /check-session, POST /login
(username=alice), /sessions, POST /logout.
"""

from __future__ import annotations

import argparse

from blacksheep import Application, Request, Response, html, json, text
from blacksheep.server.routing import Router

from sessionary import SessionManager, alogin, alogout
from sessionary.integrations.blacksheep import use_sessions

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
) -> Application:
    app = Application(router=Router())  # its own routes: the module-level router is shared
    # The session is read asynchronously before each handler (when the request has a
    # session cookie), so plain dict access below never waits on the store.
    sessions = use_sessions(app, store, manager=manager)

    async def index(request: Request) -> Response:
        return html(PAGE)

    async def set_short_session(request: Request) -> Response:
        request.session.set_expiry(10)  # ends 10 seconds after the last save
        request.session["user"] = "Alice"
        return text("Session set for 10 seconds\n")

    async def check_session(request: Request) -> Response:
        return text(f"User in session: {request.session.get('user', 'No session')}\n")

    async def login(request: Request) -> Response:
        form = await request.form() or {}
        username = str(form["username"])  # a real app checks a password here
        await alogin(request.session, username)  # new token: the one sent before sign-in is dead now
        request.session.set_expiry(300)
        request.session["user"] = username
        return text(f"Logged in as {username}\n")

    async def list_sessions(request: Request) -> Response:
        user_id = request.session.user_id
        if user_id is None:
            return json({"error": "not signed in"}, status=401)
        devices = await sessions.manager.alist_sessions(user_id, current=request.session)
        return json([{"handle": d.handle, "current": d.current} for d in devices])

    async def logout(request: Request) -> Response:
        await alogout(request.session)  # deletes the stored session and the cookie
        return text("Logged out\n")

    async def close_store(application: Application) -> None:
        await sessions.manager.aclose()

    app.router.add_get("/", index)
    app.router.add_get("/set-short-session", set_short_session)
    app.router.add_get("/check-session", check_session)
    app.router.add_post("/login", login)
    app.router.add_get("/sessions", list_sessions)
    app.router.add_post("/logout", logout)
    app.on_stop += close_store
    return app


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
