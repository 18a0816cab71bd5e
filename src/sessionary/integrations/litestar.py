"""Litestar: sessionary behind Litestar's own session API.

    from litestar import Litestar, Request, post
    from sessionary.integrations.litestar import SessionaryPlugin

    @post("/login")
    async def login(request: Request) -> None:
        request.set_session({"user": "alice"})      # Litestar's API works as before

    app = Litestar([login], plugins=[SessionaryPlugin(store="sqlite:///sessions.db")])

What Litestar apps already do keeps working: ``request.session`` (read and write),
``request.set_session(dict_or_model)`` (replaces the data), ``request.clear_session()``
(deletes the stored session and the cookie), ``exclude`` paths and the
``skip_session`` opt key. On top, a handler can take ``session: Session`` (a
dependency the plugin provides; ``session: SessionDep`` marks it as Litestar 2.25+
asks), typed with sessionary's whole API: ``set_expiry``,
``cycle_key``, the ``a*`` methods, and :func:`sessionary.auth.alogin` /
:func:`~sessionary.auth.alogout`. Unlike Litestar's server-side sessions, a request that
never writes to its session stores nothing and sets no cookie, and a cookie the server
did not issue is never adopted.

Without the plugin, ``SessionaryConfig(...).middleware`` goes into ``middleware=[...]``
like Litestar's ``ServerSideSessionConfig().middleware``; then register the
``session`` dependency and the error handlers yourself (:meth:`SessionaryPlugin.on_app_init`
shows how).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, cast

from litestar import Request, Response
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware, DefineMiddleware
from litestar.plugins import InitPlugin
from litestar.serialization import decode_json, encode_json
from litestar.types import ASGIApp, Empty, Receive, Scope, Send
from litestar.utils import get_serializer_from_scope

from ..config import Config
from ..errors import SessionInterrupted, StoreError
from ..lifecycle import failure_response
from ..manager import DEFAULT_STORE, SessionManager
from ..session import Session
from ..stores import Store
from . import asgi

try:
    from litestar.di import Dependency

    _NAMED: object = Dependency(kind="named")
except ImportError:  # Litestar before 2.25 infers a dependency from the parameter's name
    _NAMED = "sessionary session dependency"

SessionDep = Annotated[Session, _NAMED]
"""A handler parameter ``session: SessionDep`` receives the loaded session (the
``session`` dependency the plugin provides, marked as Litestar 2.25+ asks)."""


class SessionaryConfig:
    """Where sessions are kept and how they behave, plus Litestar's middleware options.

    ``exclude`` (path patterns) and ``exclude_opt_key`` (a route handler ``opt`` key,
    ``skip_session`` by default) skip the middleware as they do for Litestar's own.
    ``preload`` (on by default, as Litestar's own middleware always loads) reads the
    session asynchronously before the handler runs when the request carries a session
    cookie, so plain ``request.session["key"]`` in an async handler never blocks.
    """

    def __init__(
        self,
        store: str | Store = DEFAULT_STORE,
        config: Config | None = None,
        *,
        manager: SessionManager | None = None,
        exclude: str | list[str] | None = None,
        exclude_opt_key: str = "skip_session",
        preload: bool = True,
        **settings: Any,
    ) -> None:
        self.manager = manager or SessionManager(store, config, **settings)
        self.exclude = exclude
        self.exclude_opt_key = exclude_opt_key
        self.preload = preload
        # As for sessionary.SessionMiddleware: the test client's http://testserver.local
        # gets the cookie without Secure while cookie_secure is left at its default.
        self.relax_secure_for_tests = (
            manager is None
            and config is None
            and "cookie_secure" not in settings
            and self.manager.config.cookie_secure
        )

    @property
    def middleware(self) -> SessionaryMiddleware:
        """The middleware, for ``Litestar(middleware=[config.middleware])``."""
        return SessionaryMiddleware(self)

    @property
    def session_auth_backend(self) -> SessionAuthBackend:
        """For Litestar's ``SessionAuth(session_backend_config=...)``: the authentication
        reads sessionary's session, and no second session middleware is installed."""
        return SessionAuthBackend(self)


class SessionAuthBackend:
    """What Litestar's ``SessionAuth`` needs of a session backend config, on sessionary.

    ``SessionAuth`` wraps its authentication middleware in
    ``session_backend_config.middleware``; here that wrapper is the identity, since
    sessionary's middleware (the plugin's, outermost) has already put the session in
    the scope. ``key`` is the cookie's name (for the OpenAPI security scheme).
    """

    def __init__(self, config: SessionaryConfig) -> None:
        self.config = config
        self.key = config.manager.config.session_cookie_name
        self._backend_class = _NoBackend

    @property
    def middleware(self) -> DefineMiddleware:
        return DefineMiddleware(_session_already_in_scope)


class _NoBackend:
    def __init__(self, config: SessionAuthBackend) -> None:
        self.config = config


def _session_already_in_scope(app: ASGIApp, backend: object = None) -> ASGIApp:
    return app


class SessionaryMiddleware(ASGIMiddleware):
    """Runs sessionary's ASGI middleware around the handler, and carries Litestar's
    ``set_session`` / ``clear_session`` over to the sessionary session."""

    scopes = (ScopeType.HTTP, ScopeType.WEBSOCKET)

    def __init__(self, config: SessionaryConfig) -> None:
        self.config = config
        self.exclude_path_pattern = (
            (config.exclude,) if isinstance(config.exclude, str) else tuple(config.exclude or ())
        ) or None
        self.exclude_opt_key = config.exclude_opt_key

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        middleware = asgi.SessionMiddleware(
            _carry_over(cast("asgi.ASGIApp", next_app)),
            manager=self.config.manager,
            preload=self.config.preload,
        )
        middleware.relax_secure_for_tests = self.config.relax_secure_for_tests
        await middleware(cast("asgi.Scope", scope), cast("asgi.Receive", receive), cast("asgi.Send", send))


def _carry_over(app: asgi.ASGIApp) -> asgi.ASGIApp:
    """Wrap ``app`` so that what the handler did with Litestar's session API reaches
    the sessionary session before the response is closed."""

    async def wrapped(scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        session: Session = scope["session"]

        async def send_carried_over(message: asgi.Message) -> None:
            if message["type"] == "http.response.start":
                await adopt(scope, session)
            await send(message)

        await app(scope, receive, send_carried_over)

    return wrapped


async def adopt(scope: asgi.Scope, session: Session) -> None:
    """Apply ``request.set_session(value)`` / ``request.clear_session()`` to ``session``.

    Litestar's API replaces ``scope["session"]``: a mapping or data model replaces the
    data (Litestar serializes models with the app's serializer, and so does this), and
    ``Empty`` ends the session (the stored record and the cookie).
    """
    current = scope.get("session")
    if current is session:
        return
    scope["session"] = session
    if current is Empty or current is None:
        await session.aflush()
        return
    if isinstance(current, Session):
        data = dict(await current.aitems())
    elif isinstance(current, Mapping):
        data = dict(current)
    else:
        data = decode_json(encode_json(current, get_serializer_from_scope(cast("Scope", scope))))
    session.clear()
    session.update(data)


async def provide_session(scope: Scope) -> Session:
    """The request's (or WebSocket's) session, loaded; for ``session: Session`` parameters."""
    session = scope.get("session")
    if not isinstance(session, Session):
        raise RuntimeError(
            "no sessionary session on this connection: add plugins=[SessionaryPlugin(...)] "
            "(or SessionaryConfig(...).middleware) to the app"
        )
    await session.aload()
    return session


class SessionaryPlugin(InitPlugin):
    """Adds the middleware (outermost, so other middleware see the session), the
    ``session`` dependency, the fail-closed error responses (503 when the store fails,
    400 when the session was deleted mid-request) and closing the store at shutdown."""

    def __init__(
        self,
        store: str | Store = DEFAULT_STORE,
        config: Config | None = None,
        *,
        sessionary_config: SessionaryConfig | None = None,
        dependency_key: str = "session",
        **options: Any,
    ) -> None:
        self.config = sessionary_config or SessionaryConfig(store, config, **options)
        self.dependency_key = dependency_key

    @property
    def manager(self) -> SessionManager:
        return self.config.manager

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.middleware.insert(0, self.config.middleware)
        app_config.dependencies[self.dependency_key] = Provide(provide_session)
        app_config.exception_handlers[StoreError] = self._failure
        app_config.exception_handlers[SessionInterrupted] = self._failure
        app_config.on_shutdown.append(self.config.manager.aclose)
        return app_config

    def _failure(self, request: Request[Any, Any, Any], error: Exception) -> Response[bytes]:
        status, headers, body = failure_response(self.config.manager, error)
        return Response(body, status_code=status, headers=dict(headers))


__all__ = [
    "SessionDep",
    "SessionaryConfig",
    "SessionaryMiddleware",
    "SessionaryPlugin",
    "adopt",
    "provide_session",
]
