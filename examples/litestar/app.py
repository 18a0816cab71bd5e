"""The tutorial's session flow on Litestar, with sessions in SQLite.

    python examples/litestar/app.py         # http://127.0.0.1:8000
    python examples/litestar/app.py --port 9000 --store redis://localhost:6379/0

The plugin puts a sessionary session where Litestar puts its own (``request.session``,
``set_session``, ``clear_session``) and gives handlers a typed ``session: SessionDep``.
Try /set-short-session, /check-session, POST /login (username=alice), /sessions,
POST /logout.
"""

from __future__ import annotations

import argparse
from typing import Annotated, Any

from litestar import Litestar, Response, get, post
from litestar.enums import MediaType, RequestEncodingType
from litestar.params import Body

from sessionary import SessionManager, alogin, alogout
from sessionary.integrations.litestar import SessionaryPlugin, SessionDep

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


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
) -> Litestar:
    plugin = SessionaryPlugin(store, manager=manager)

    @get("/", media_type=MediaType.HTML)
    async def index() -> str:
        return PAGE

    @get("/set-short-session")
    async def set_short_session(session: SessionDep) -> str:
        session.set_expiry(10)  # ends 10 seconds after the last save
        session["user"] = "Alice"
        return "Session set for 10 seconds\n"

    @get("/check-session")
    async def check_session(session: SessionDep) -> str:
        return f"User in session: {session.get('user', 'No session')}\n"

    @post("/login", status_code=200)
    async def login(session: SessionDep, data: Form) -> str:
        username = data["username"]  # a real app checks a password here
        await alogin(session, username)  # new token: the one sent before sign-in is dead now
        session.set_expiry(300)
        session["user"] = username
        return f"Logged in as {username}\n"

    @get("/sessions")
    async def sessions(session: SessionDep) -> Response[Any]:
        if session.user_id is None:
            return Response({"error": "not signed in"}, status_code=401)
        devices = await plugin.manager.alist_sessions(session.user_id, current=session)
        return Response([{"handle": d.handle, "current": d.current} for d in devices])

    @post("/logout", status_code=200)
    async def logout(session: SessionDep) -> str:
        await alogout(session)  # deletes the stored session and the cookie
        return "Logged out\n"

    return Litestar(
        [index, set_short_session, check_session, login, sessions, logout],
        plugins=[plugin],
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
