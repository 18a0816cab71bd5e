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
from litestar.connection import ASGIConnection
from litestar.datastructures import MutableScopeHeaders
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.exceptions import ImproperlyConfiguredException
from litestar.middleware import ASGIMiddleware
from litestar.plugins import InitPlugin
from litestar.serialization import decode_json, encode_json
from litestar.types import ASGIApp, Empty, Message, Receive, Scope, Send
from litestar.utils import get_serializer_from_scope

from ..config import Config
from ..errors import ConfigError, SessionInterrupted, StoreError
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


class LitestarConfigError(ConfigError, ImproperlyConfiguredException):
    """A bad setting, raised at start-up as Litestar's own configs raise theirs: it is both
    sessionary's ``ConfigError`` and Litestar's ``ImproperlyConfiguredException``."""

    def __str__(self) -> str:
        return f"{self.setting}: {self.message}"  # without the HTTP status Litestar's adds


class SessionaryConfig:
    """Where sessions are kept and how they behave, plus Litestar's middleware options.

    It goes where Litestar's ``ServerSideSessionConfig`` went: ``config.middleware`` in
    ``middleware=[...]``, the config itself in ``SessionAuth(session_backend_config=...)``
    and in ``TestClient(session_config=...)`` (``get_session_data`` / ``set_session_data``).
    A bad setting raises :class:`LitestarConfigError` when it is built.

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
        try:
            self.manager = manager or SessionManager(store, config, **settings)
        except ConfigError as error:
            raise LitestarConfigError(error.setting, error.message) from None
        self.exclude = exclude
        self.exclude_opt_key = exclude_opt_key
        self.preload = preload
        if preload:
            self.manager.serve_async_views()
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
    def key(self) -> str:
        """The session cookie's name, as Litestar's backend configs call it (``SessionAuth``
        names it in the OpenAPI security scheme)."""
        return self.manager.config.session_cookie_name

    @property
    def _backend_class(self) -> type[SessionaryBackend]:
        # What Litestar's TestClient(session_config=...) and SessionAuth instantiate.
        return SessionaryBackend

    @property
    def session_auth_backend(self) -> SessionaryConfig:
        """The config itself, which ``SessionAuth(session_backend_config=...)`` takes as it
        takes Litestar's configs (kept for apps written when it needed this)."""
        return self


class SessionaryBackend:
    """What Litestar asks of a session backend, on sessionary: ``SessionAuth`` passes it
    to the middleware, and Litestar's ``TestClient(session_config=config)`` reads and
    writes the session through it (``client.get_session_data()``,
    ``client.set_session_data({...})``) as a request to the app would."""

    def __init__(self, config: SessionaryConfig) -> None:
        self.config = config

    def get_session_id(self, connection: ASGIConnection[Any, Any, Any, Any]) -> None:
        """None, as ``request.get_session_id()``: the cookie's token is not handed out."""
        return None

    async def load_from_connection(self, connection: ASGIConnection[Any, Any, Any, Any]) -> dict[str, Any]:
        """The data of the session the connection's cookies name ({} for none)."""
        session = self.config.manager.open(_cookie_header(connection))
        return dict(await session.aitems())

    async def store_in_message(
        self, scope_session: Any, message: Message, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> None:
        """Make ``scope_session`` the session's data (``Empty``: end the session), save it,
        and put the cookie on ``message``, as a response of the app would."""
        manager = self.config.manager
        session = manager.open(_cookie_header(connection))
        await adopt({**connection.scope, "session": scope_session}, session)
        outcome = await manager.aclose_session(session, 200)
        headers = MutableScopeHeaders.from_message(message)
        for name, value in outcome.apply([]):
            if value is outcome.set_cookie and self.config.relax_secure_for_tests:
                value = asgi.relax_for_test_client(cast("asgi.Scope", connection.scope), value)
            headers.add(name, value)


def _cookie_header(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("cookie")
    if header is None and connection.cookies:  # a test client's connection keeps them apart
        header = "; ".join(f"{name}={value}" for name, value in connection.cookies.items())
    return header


class SessionaryMiddleware(ASGIMiddleware):
    """Runs sessionary's ASGI middleware around the handler, and carries Litestar's
    ``set_session`` / ``clear_session`` over to the sessionary session.

    Where sessionary's session for the same config is already in the scope (the plugin's
    middleware, outermost, and ``SessionAuth`` wrapping its authentication in the
    config's middleware again), it passes the request on: one session, one cookie.
    """

    scopes = (ScopeType.HTTP, ScopeType.WEBSOCKET)

    def __init__(self, config: SessionaryConfig) -> None:
        self.config = config
        self.exclude_path_pattern = (
            (config.exclude,) if isinstance(config.exclude, str) else tuple(config.exclude or ())
        ) or None
        self.exclude_opt_key = config.exclude_opt_key

    def middleware(self, app: ASGIApp, backend: object = None) -> ASGIApp:
        """``SessionAuth`` wraps its authentication in ``config.middleware.middleware(app=...,
        backend=...)``, as Litestar's own configs' ``DefineMiddleware`` allows."""
        return self(app)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        current = scope.get("session")
        if isinstance(current, Session) and current.manager is self.config.manager:
            await next_app(scope, receive, send)
            return
        middleware = asgi.SessionMiddleware(
            _carry_over(cast("asgi.ASGIApp", next_app)),
            manager=self.config.manager,
            preload=self.config.preload,
            starlette_spelling=False,  # Litestar spells its cookies' attributes as Django does
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
    "LitestarConfigError",
    "SessionDep",
    "SessionaryBackend",
    "SessionaryConfig",
    "SessionaryMiddleware",
    "SessionaryPlugin",
    "adopt",
    "provide_session",
]
