"""The tutorial's session flow on Pyramid, with sessions in SQLite.

    python examples/pyramid/app.py          # http://127.0.0.1:8000
    python examples/pyramid/app.py --port 9000 --store redis://localhost:6379/0

``request.session`` is Pyramid's usual session (flash queues and the CSRF token
included), kept by sessionary. Try /set-short-session, /check-session, POST /login
(username=alice), /sessions, POST /logout.
"""

from __future__ import annotations

import argparse
from typing import Any

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response

from sessionary import SessionManager, login, logout
from sessionary.integrations.pyramid import get_manager, use_sessionary

PAGE = """<!doctype html>
<title>sessionary example</title>
<p><a href="/set-short-session">Set a 10-second session</a> ·
<a href="/check-session">Check the session</a> · <a href="/sessions">My sessions</a></p>
<form method="post" action="/login"><input name="username" placeholder="name" required>
<button>Log in</button></form>
<form method="post" action="/logout"><button>Log out</button></form>
"""


def index(request: Request) -> Response:
    return Response(PAGE)


def set_short_session(request: Request) -> Response:
    request.session.set_expiry(10)  # ends 10 seconds after the last save
    request.session["user"] = "Alice"
    return Response("Session set for 10 seconds\n", content_type="text/plain")


def check_session(request: Request) -> Response:
    return Response(
        f"User in session: {request.session.get('user', 'No session')}\n", content_type="text/plain"
    )


def sign_in(request: Request) -> Response:
    username = request.POST["username"]  # a real app checks a password here
    login(request.session, username)  # new token: the one sent before sign-in is dead now
    request.session.set_expiry(300)
    request.session["user"] = username
    return Response(f"Logged in as {username}\n", content_type="text/plain")


def sessions(request: Request) -> Any:
    user_id = request.session.user_id
    if user_id is None:
        request.response.status = 401
        return {"error": "not signed in"}
    devices = get_manager(request).list_sessions(user_id, current=request.session)
    return [{"handle": d.handle, "current": d.current} for d in devices]


def sign_out(request: Request) -> Response:
    logout(request.session)  # deletes the stored session and the cookie
    return Response("Logged out\n", content_type="text/plain")


def create_app(store: str = "sqlite:///example-sessions.db", *, manager: SessionManager | None = None) -> Any:
    with Configurator() as config:
        use_sessionary(config, store, manager=manager)
        for name, path, view, method, renderer in [
            ("index", "/", index, "GET", None),
            ("set_short", "/set-short-session", set_short_session, "GET", None),
            ("check", "/check-session", check_session, "GET", None),
            ("login", "/login", sign_in, "POST", None),
            ("sessions", "/sessions", sessions, "GET", "json"),
            ("logout", "/logout", sign_out, "POST", None),
        ]:
            config.add_route(name, path)
            config.add_view(view, route_name=name, request_method=method, renderer=renderer)
        return config.make_wsgi_app()


def main() -> None:
    from wsgiref.simple_server import make_server

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--store", default="sqlite:///example-sessions.db")
    args = parser.parse_args()
    with make_server(args.host, args.port, create_app(args.store)) as server:
        print(f"Serving on http://{args.host}:{args.port}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
