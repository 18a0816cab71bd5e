"""The tutorial's session flow on Tornado, with sessions in SQLite.

    python examples/tornado/app.py            # http://127.0.0.1:8000
    python examples/tornado/app.py --port 9000 --store redis://localhost:6379/0

Try it: /set-short-session, then /check-session (within 10 seconds, and after);
POST /login with username=alice, GET /sessions, POST /logout.
"""

from __future__ import annotations

import argparse
import asyncio
import json

from tornado.web import Application, RequestHandler

from sessionary import SessionManager, alogin, alogout
from sessionary.integrations.tornado import SessionMixin, setup

PAGE = """<!doctype html>
<title>sessionary example</title>
<p><a href="/set-short-session">Set a 10-second session</a> ·
<a href="/check-session">Check the session</a> · <a href="/sessions">My sessions</a></p>
<form method="post" action="/login"><input name="username" placeholder="name" required>
<button>Log in</button></form>
<form method="post" action="/logout"><button>Log out</button></form>
"""


class Index(RequestHandler):
    def get(self) -> None:
        self.write(PAGE)


class SetShortSession(SessionMixin, RequestHandler):
    async def get(self) -> None:
        session = await self.get_session()
        session.set_expiry(10)  # ends 10 seconds after the last save
        session["user"] = "Alice"
        self.write("Session set for 10 seconds\n")


class CheckSession(SessionMixin, RequestHandler):
    async def get(self) -> None:
        session = await self.get_session()
        self.write(f"User in session: {session.get('user', 'No session')}\n")


class SignIn(SessionMixin, RequestHandler):
    async def post(self) -> None:
        username = self.get_body_argument("username")  # a real app checks a password here
        session = await self.get_session()
        await alogin(session, username)  # new token: the one sent before sign-in is dead now
        session.set_expiry(300)
        session["user"] = username
        self.write(f"Logged in as {username}\n")


class Sessions(SessionMixin, RequestHandler):
    async def get(self) -> None:
        session = await self.get_session()
        self.set_header("Content-Type", "application/json")
        if session.user_id is None:
            self.set_status(401)
            self.write(json.dumps({"error": "not signed in"}))
            return
        devices = await self.session_manager.alist_sessions(session.user_id, current=session)
        self.write(json.dumps([{"handle": d.handle, "current": d.current} for d in devices]))


class SignOut(SessionMixin, RequestHandler):
    async def post(self) -> None:
        await alogout(await self.get_session())  # deletes the stored session and the cookie
        self.write("Logged out\n")


def create_app(
    store: str = "sqlite:///example-sessions.db", *, manager: SessionManager | None = None
) -> Application:
    app = Application(
        [
            (r"/", Index),
            (r"/set-short-session", SetShortSession),
            (r"/check-session", CheckSession),
            (r"/login", SignIn),
            (r"/sessions", Sessions),
            (r"/logout", SignOut),
        ]
    )
    setup(app, store=store, manager=manager)
    return app


async def serve(host: str, port: int, store: str) -> None:
    create_app(store).listen(port, address=host)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--store", default="sqlite:///example-sessions.db")
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port, args.store))


if __name__ == "__main__":
    main()
