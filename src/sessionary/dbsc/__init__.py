"""Device Bound Session Credentials: bind a signed-in session to a key the browser keeps.

Opt-in, and needs the ``dbsc`` extra (``cryptography``). Mount
:class:`~sessionary.dbsc.asgi.DBSCMiddleware` (ASGI: Starlette, FastAPI) or
:class:`~sessionary.dbsc.wsgi.DBSCWSGIMiddleware` (WSGI) inside the session middleware.
See :mod:`sessionary.dbsc.protocol` for the protocol and docs/security.md for the tests.
"""

from .protocol import DBSCConfig

__all__ = ["DBSCConfig"]
