"""DBSC for any ASGI app (Starlette, FastAPI): mount it inside ``SessionMiddleware``.

    app = SessionMiddleware(DBSCMiddleware(app), store="sqlite:///sessions.db")

It answers the registration and refresh endpoints itself, refuses requests of a bound
session that carry no live bound cookie, and adds the registration header to responses
of signed-in sessions not yet offered a binding.
"""

from __future__ import annotations

from typing import Any

from ..integrations.asgi import ASGIApp, Message, Receive, Scope, Send
from ..session import Session
from . import protocol
from .protocol import DBSCConfig, Reply


class DBSCMiddleware:
    def __init__(self, app: ASGIApp, /, config: DBSCConfig | None = None) -> None:
        self.app = app
        self.config = config or DBSCConfig()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        session = scope.get("session")
        if scope["type"] != "http" or not isinstance(session, Session):
            await self.app(scope, receive, send)
            return
        manager = session.manager
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        path = scope["path"]
        dbsc = self.config
        if path in (dbsc.registration_path, dbsc.refresh_path):
            if scope["method"] != "POST":
                await _send(send, Reply(405, [("Allow", "POST")]))
                return
            await session.aload()
            now = manager.now()
            if path == dbsc.registration_path:
                reply = protocol.register(session, headers, manager.config, dbsc, now)
            else:
                reply = protocol.refresh(
                    session, headers, manager.config, dbsc, now, manager.config.renewal_grace
                )
            if reply.rotate:
                await session.arenew(grace=manager.config.renewal_grace)
            await _send(send, reply)
            return
        if session.session_key is not None:
            await session.aload()
            if not protocol.allows(session, headers.get("cookie"), manager.config, manager.now()):
                await _send(send, protocol.refresh_needed(dbsc))
                return

        async def send_with_registration(message: Message) -> None:
            if message["type"] == "http.response.start" and session.state.data is not None:
                offer = protocol.announce(session, dbsc, manager.now())
                if offer is not None:
                    message["headers"] = [
                        *message.get("headers", ()),
                        (protocol.REGISTRATION_HEADER.encode(), offer.encode("latin-1")),
                    ]
            await send(message)

        await self.app(scope, receive, send_with_registration)


async def _send(send: Send, reply: Reply) -> None:
    headers: list[Any] = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers]
    headers.append((b"content-length", str(len(reply.body)).encode()))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})
