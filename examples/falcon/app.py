"""The tutorial's session flow on Falcon (a WSGI app, or an ASGI one), with sessions in SQLite.

    python examples/falcon/app.py           # WSGI, http://127.0.0.1:8000
    python examples/falcon/app.py --asgi    # the same app on falcon.asgi, served by uvicorn
    python examples/falcon/app.py --port 9000 --store redis://localhost:6379/0

``req.context.session`` is the session. Try /set-short-session, /check-session,
POST /login (username=alice), /sessions, POST /logout.
"""

from __future__ import annotations

import argparse
from typing import Any

import falcon
import falcon.asgi

from sessionary import SessionManager, alogin, alogout, login, logout
from sessionary.integrations.falcon import SessionMiddleware

PAGE = """<!doctype html>
<title>sessionary example</title>
<p><a href="/set-short-session">Set a 10-second session</a> ·
<a href="/check-session">Check the session</a> · <a href="/sessions">My sessions</a></p>
<form method="post" action="/login"><input name="username" placeholder="name" required>
<button>Log in</button></form>
<form method="post" action="/logout"><button>Log out</button></form>
"""


class Tutorial:
    """The WSGI app's responders."""

    def __init__(self, manager: SessionManager) -> None:
        self.manager = manager

    def on_get_index(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_HTML
        resp.text = PAGE

    def on_get_set_short(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.session.set_expiry(10)  # ends 10 seconds after the last save
        req.context.session["user"] = "Alice"
        resp.text = "Session set for 10 seconds\n"

    def on_get_check(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.text = f"User in session: {req.context.session.get('user', 'No session')}\n"

    def on_post_login(self, req: falcon.Request, resp: falcon.Response) -> None:
        username = req.get_media()["username"]  # a real app checks a password here
        login(req.context.session, username)  # new token: the one sent before sign-in is dead now
        req.context.session.set_expiry(300)
        req.context.session["user"] = username
        resp.text = f"Logged in as {username}\n"

    def on_get_sessions(self, req: falcon.Request, resp: falcon.Response) -> None:
        session = req.context.session
        if session.user_id is None:
            resp.status = 401
            resp.media = {"error": "not signed in"}
            return
        devices = self.manager.list_sessions(session.user_id, current=session)
        resp.media = [{"handle": d.handle, "current": d.current} for d in devices]

    def on_post_logout(self, req: falcon.Request, resp: falcon.Response) -> None:
        logout(req.context.session)  # deletes the stored session and the cookie
        resp.text = "Logged out\n"


class AsyncTutorial:
    """The ASGI app's responders: the same, with the session's async API where it may
    wait on the store (the middleware has already read the session)."""

    def __init__(self, manager: SessionManager) -> None:
        self.manager = manager

    async def on_get_index(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = falcon.MEDIA_HTML
        resp.text = PAGE

    async def on_get_set_short(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        await req.context.session.aset_expiry(10)
        await req.context.session.aset("user", "Alice")
        resp.text = "Session set for 10 seconds\n"

    async def on_get_check(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.text = f"User in session: {await req.context.session.aget('user', 'No session')}\n"

    async def on_post_login(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        username = (await req.get_media())["username"]
        await alogin(req.context.session, username)
        await req.context.session.aset_expiry(300)
        await req.context.session.aset("user", username)
        resp.text = f"Logged in as {username}\n"

    async def on_get_sessions(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        session = req.context.session
        if session.user_id is None:
            resp.status = 401
            resp.media = {"error": "not signed in"}
            return
        devices = await self.manager.alist_sessions(session.user_id, current=session)
        resp.media = [{"handle": d.handle, "current": d.current} for d in devices]

    async def on_post_logout(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        await alogout(req.context.session)
        resp.text = "Logged out\n"


def create_app(
    store: str = "sqlite:///example-sessions.db", *, manager: SessionManager | None = None, asgi: bool = False
) -> Any:
    sessions = SessionMiddleware(store, manager=manager)
    app: Any = falcon.asgi.App(middleware=[sessions]) if asgi else falcon.App(middleware=[sessions])
    tutorial = (AsyncTutorial if asgi else Tutorial)(sessions.manager)
    app.add_route("/", tutorial, suffix="index")
    app.add_route("/set-short-session", tutorial, suffix="set_short")
    app.add_route("/check-session", tutorial, suffix="check")
    app.add_route("/login", tutorial, suffix="login")
    app.add_route("/sessions", tutorial, suffix="sessions")
    app.add_route("/logout", tutorial, suffix="logout")
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--store", default="sqlite:///example-sessions.db")
    parser.add_argument("--asgi", action="store_true", help="serve the falcon.asgi app with uvicorn")
    args = parser.parse_args()
    if args.asgi:
        import uvicorn

        uvicorn.run(create_app(args.store, asgi=True), host=args.host, port=args.port)
        return
    from wsgiref.simple_server import make_server

    with make_server(args.host, args.port, create_app(args.store)) as server:
        print(f"Serving on http://{args.host}:{args.port}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
