"""What the Flask and Quart DBSC mounts share, as :mod:`sessionary.integrations.flasklike`
is what their session integrations share.

Quart keeps Flask's request hooks, request and session objects, so the two mounts differ
only in being sync or async: this module holds the constructor and ``init_app`` (a
``before_request`` and an ``after_request`` function on the app), the lookup of the
request's sessionary session and the registration header added to the response.
:class:`sessionary.dbsc.flask.DBSC` runs :func:`~sessionary.dbsc.mount.before` in its
``before_request`` function, :class:`sessionary.dbsc.quart.DBSC` runs
:func:`~sessionary.dbsc.mount.abefore`, and each builds its own framework's response.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Generic, Protocol, TypeVar

from ..session import Session
from . import mount, protocol
from .protocol import DBSCConfig


class FlaskLikeApp(Protocol):
    """A Flask or Quart app, as far as its request hooks go."""

    def before_request(self, f: Any) -> Any: ...

    def after_request(self, f: Any) -> Any: ...


class FlaskLikeRequest(Protocol):
    """A Flask or Quart request, as far as DBSC reads it."""

    method: str
    path: str
    headers: Any


class FlaskLikeResponse(Protocol):
    """A Flask (Werkzeug) or Quart response, as far as the registration header goes."""

    headers: Any


App = TypeVar("App", bound=FlaskLikeApp)
Response = TypeVar("Response", bound=FlaskLikeResponse)

Before = tuple[Session, str, str, dict[str, str], DBSCConfig]
"""What :func:`~sessionary.dbsc.mount.before` and :func:`~sessionary.dbsc.mount.abefore` take."""


def current_session(proxy: Any) -> Session | None:
    """The sessionary session behind the framework's ``session`` proxy (None: another kind)."""
    current = proxy._get_current_object()
    return current if isinstance(current, Session) else None


class FlaskLikeDBSC(ABC, Generic[App]):
    """The DBSC mount of a Flask-style app: ``DBSC(app)``, or ``DBSC()`` then ``init_app(app)``."""

    def __init__(self, app: App | None = None, config: DBSCConfig | None = None) -> None:
        self.config = config or DBSCConfig()
        if app is not None:
            self.init_app(app)

    def init_app(self, app: App) -> None:
        app.before_request(self._before)
        app.after_request(self._after)

    @abstractmethod
    def _before(self) -> Any:
        """The ``before_request`` function: the endpoints' answer, the bound-cookie
        refusal, or None to let the app run."""

    @abstractmethod
    def _after(self, response: Any) -> Any:
        """The ``after_request`` function: :meth:`_offered` (sync or async)."""

    def _before_arguments(self, session: Any, request: FlaskLikeRequest) -> Before | None:
        """The request as the mount's ``before`` step takes it (None: no sessionary session)."""
        current = current_session(session)
        if current is None:
            return None
        headers = protocol.request_headers(request.headers.items())
        return current, request.method, request.path, headers, self.config

    def _offered(self, session: Any, response: Response) -> Response:
        """``response`` with the registration header, where the session is to be offered DBSC."""
        current = current_session(session)
        if current is not None:
            offer = mount.offer(current, self.config)
            if offer is not None:
                response.headers.add(*offer)
        return response
