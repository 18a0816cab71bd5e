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
from . import mount, protocol
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
        pairs = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", ())]
        headers = protocol.request_headers(pairs)
        reply = await mount.abefore(session, scope["method"], scope["path"], headers, self.config)
        if reply is not None:
            await _send(send, reply)
            return

        async def send_with_registration(message: Message) -> None:
            if message["type"] == "http.response.start":
                offer = mount.offer(session, self.config)
                if offer is not None:
                    name, value = offer
                    message["headers"] = [
                        *message.get("headers", ()),
                        (name.encode(), value.encode("latin-1")),
                    ]
            await send(message)

        await self.app(scope, receive, send_with_registration)


async def _send(send: Send, reply: Reply) -> None:
    headers: list[Any] = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers]
    headers.append((b"content-length", str(len(reply.body)).encode()))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})
