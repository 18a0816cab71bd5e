"""Device Bound Session Credentials: bind a signed-in session to a key the browser keeps.

Opt-in, and needs the ``dbsc`` extra (``cryptography``). Mount it inside the session
integration: :class:`~sessionary.dbsc.asgi.DBSCMiddleware` (ASGI: Starlette, FastAPI),
:class:`~sessionary.dbsc.wsgi.DBSCWSGIMiddleware` (WSGI), or the module named after the
framework (``sessionary.dbsc.flask``, ``.quart``, ``.litestar``, ``.aiohttp``,
``.sanic``, ``.tornado``, ``.falcon``, ``.pyramid``, ``.bottle``, ``.blacksheep``,
``.django``). See :mod:`sessionary.dbsc.protocol` for the protocol and docs/security.md
for each mount and its tests.
"""

from .protocol import DBSCConfig

__all__ = ["DBSCConfig"]
