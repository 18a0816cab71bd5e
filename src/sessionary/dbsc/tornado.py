"""DBSC for Tornado, on :class:`sessionary.integrations.tornado.SessionMixin`.

    class Home(DBSCMixin, RequestHandler):     # instead of SessionMixin
        ...

    app = Application([(r"/", Home)])
    setup(app, store="sqlite:///sessions.db")
    sessionary.dbsc.tornado.setup(app)         # the endpoints' routes

Tornado has no middleware: each handler that serves the session takes
:class:`DBSCMixin` (a :class:`SessionMixin` that refuses, in ``prepare``, a bound
session without a live bound cookie, and adds the registration header before the
session is saved in ``finish``). A handler with the plain ``SessionMixin`` is not
checked, so use this mixin on every handler of a site that mounts DBSC.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tornado.web import Application, RequestHandler

from ..integrations.tornado import SessionMixin
from . import mount, protocol
from .protocol import DBSCConfig

SETTINGS_KEY = "sessionary_dbsc"


class DBSCMixin(SessionMixin):
    @property
    def dbsc_config(self) -> DBSCConfig:
        config = self.application.settings.get(SETTINGS_KEY)
        return config if isinstance(config, DBSCConfig) else DBSCConfig()

    async def prepare(self) -> None:
        request = self.request
        headers = protocol.request_headers(request.headers.get_all())
        reply = await mount.abefore(
            self.session, request.method or "GET", request.path, headers, self.dbsc_config
        )
        if reply is None:
            return
        self.set_status(reply.status)
        for name, value in reply.headers:
            self.add_header(name, value)
        await self.finish(reply.body)

    def finish(self, chunk: str | bytes | dict[str, Any] | None = None) -> asyncio.Future[None]:
        session = self._sessionary_session
        if session is not None and not self._finished and not self._headers_written:
            offer = mount.offer(session, self.dbsc_config)
            if offer is not None:
                self.add_header(*offer)
        return super().finish(chunk)


class DBSCHandler(DBSCMixin, RequestHandler):
    """The registration and refresh endpoints (``prepare`` answers them)."""

    async def post(self) -> None:
        raise RuntimeError("DBSCMixin.prepare answers this path")

    get = post


def setup(app: Application, config: DBSCConfig | None = None) -> DBSCConfig:
    """Route the endpoints to :class:`DBSCHandler` and keep ``config`` for the mixin."""
    dbsc = config or DBSCConfig()
    app.settings[SETTINGS_KEY] = dbsc
    app.wildcard_router.add_rules([(dbsc.registration_path, DBSCHandler), (dbsc.refresh_path, DBSCHandler)])
    return dbsc


__all__ = ["DBSCHandler", "DBSCMixin", "setup"]
