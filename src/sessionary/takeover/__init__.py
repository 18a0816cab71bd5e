"""Switch without signing anyone out: take over the sessions an old library left.

Set ``takeover=`` to one of these readers; on a request that carries no live sessionary
token but the old library's cookie, the old session is read, its data stored as a new
sessionary session with a new token, and the old one retired (see
:func:`sessionary._async.takeover.take_over`).
"""

from .base import OldSession, Source
from .django import DjangoSessions
from .flask_cookie import FlaskCookie
from .flask_session import FlaskSessionRedis, FlaskSessionSQL
from .starlette_cookie import StarletteCookie
from .starsessions import Starsessions

__all__ = [
    "DjangoSessions",
    "FlaskCookie",
    "FlaskSessionRedis",
    "FlaskSessionSQL",
    "OldSession",
    "Source",
    "StarletteCookie",
    "Starsessions",
]
