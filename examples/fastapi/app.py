"""The tutorial's session flow on FastAPI, with sessions in SQLite.

    python examples/fastapi/app.py          # http://127.0.0.1:8000 (and /docs)
    python examples/fastapi/app.py --port 9000 --store redis://localhost:6379/0

``SessionDep`` gives each endpoint the session, loaded asynchronously and typed with
the whole API (``set_expiry``, ``cycle_key``, ``aget``...). Try /set-short-session,
/check-session, POST /login (username=alice), /sessions, POST /logout.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import FastAPI, Form, HTTPException
from fastapi.responses import HTMLResponse, PlainTextResponse

from sessionary import SessionManager, SessionMiddleware, alogin, alogout
from sessionary.integrations.fastapi import SessionDep

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
) -> FastAPI:
    manager = manager or SessionManager(store)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await manager.aclose()

    app = FastAPI(lifespan=lifespan)
    app.add_middleware(SessionMiddleware, manager=manager)

    @app.get("/", response_class=HTMLResponse)
    async def index() -> str:
        return PAGE

    @app.get("/set-short-session", response_class=PlainTextResponse)
    async def set_short_session(session: SessionDep) -> str:
        session.set_expiry(10)  # ends 10 seconds after the last save
        session["user"] = "Alice"
        return "Session set for 10 seconds\n"

    @app.get("/check-session", response_class=PlainTextResponse)
    async def check_session(session: SessionDep) -> str:
        return f"User in session: {session.get('user', 'No session')}\n"

    @app.post("/login", response_class=PlainTextResponse)
    async def login(session: SessionDep, username: Annotated[str, Form()]) -> str:
        # A real app checks a password here.
        await alogin(session, username)  # new token: the one sent before sign-in is dead now
        session.set_expiry(300)
        session["user"] = username
        return f"Logged in as {username}\n"

    @app.get("/sessions")
    async def sessions(session: SessionDep) -> list[dict[str, object]]:
        if session.user_id is None:
            raise HTTPException(status_code=401, detail="not signed in")
        devices = await manager.alist_sessions(session.user_id, current=session)
        return [{"handle": d.handle, "current": d.current} for d in devices]

    @app.post("/logout", response_class=PlainTextResponse)
    async def logout(session: SessionDep) -> str:
        await alogout(session)  # deletes the stored session and the cookie
        return "Logged out\n"

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
