"""The tutorial's session flow on Bottle, with sessions in SQLite.

    python examples/bottle/app.py           # http://127.0.0.1:8000
    python examples/bottle/app.py --port 9000 --store redis://localhost:6379/0

``request.session`` is the session (the plugin puts it there). Try /set-short-session,
/check-session, POST /login (username=alice), /sessions, POST /logout.
"""

from __future__ import annotations

import argparse
import json

from bottle import Bottle, HTTPResponse, request

from sessionary import SessionManager, login, logout
from sessionary.integrations.bottle import SessionPlugin

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
) -> Bottle:
    app = Bottle()
    sessions = app.install(SessionPlugin(store, manager=manager))

    @app.get("/")
    def index() -> str:
        return PAGE

    @app.get("/set-short-session")
    def set_short_session() -> str:
        request.session.set_expiry(10)  # ends 10 seconds after the last save
        request.session["user"] = "Alice"
        return "Session set for 10 seconds\n"

    @app.get("/check-session")
    def check_session() -> str:
        return f"User in session: {request.session.get('user', 'No session')}\n"

    @app.post("/login")
    def sign_in() -> str:
        username = request.forms.getunicode("username")  # a real app checks a password here
        login(request.session, username)  # new token: the one sent before sign-in is dead now
        request.session.set_expiry(300)
        request.session["user"] = username
        return f"Logged in as {username}\n"

    @app.get("/sessions")
    def list_sessions() -> HTTPResponse:
        user_id = request.session.user_id
        if user_id is None:
            return HTTPResponse(
                json.dumps({"error": "not signed in"}), 401, {"Content-Type": "application/json"}
            )
        devices = sessions.manager.list_sessions(user_id, current=request.session)
        body = json.dumps([{"handle": d.handle, "current": d.current} for d in devices])
        return HTTPResponse(body, 200, {"Content-Type": "application/json"})

    @app.post("/logout")
    def sign_out() -> str:
        logout(request.session)  # deletes the stored session and the cookie
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
