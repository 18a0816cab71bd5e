"""The thinnest adapters: each framework's own session tests, run against sessionary.

A pytest plugin (``-p adapters``) that, before the framework's test files are imported,
replaces the framework's session machinery with sessionary's by mapping constructor
arguments only (``SESSIONARY_SUITE`` names the suite, ``SESSIONARY_SUITE_STORE`` the store
URL prefix, ``SESSIONARY_SUITE_MODE`` ``mapped``, ``readme`` or ``unmapped``: the
framework's own session code, to show that vendored tests apply to the installed version). Each test's outcome is
written, one JSON line each, to ``SESSIONARY_SUITE_OUTCOMES``.
"""

from __future__ import annotations

import itertools
import json
import os
from typing import Any

import pytest

SUITE = os.environ["SESSIONARY_SUITE"]
STORE = os.environ["SESSIONARY_SUITE_STORE"]
MODE = os.environ.get("SESSIONARY_SUITE_MODE", "mapped")
_counter = itertools.count()


def store_url() -> str:
    """A store of its own for every app the tests build (a file, or a Redis key prefix)."""
    number = next(_counter)
    if STORE.startswith("sqlite:"):
        return f"{STORE}/app-{os.getpid()}-{number}.db"
    return f"{STORE}{os.getpid()}-{number}:"


# --- Starlette: starlette.middleware.sessions.SessionMiddleware ---------------------------


def starlette_adapter() -> type:
    from sessionary import SessionMiddleware

    class StarletteSessionMiddleware(SessionMiddleware):
        """Starlette's constructor, mapped onto sessionary's settings."""

        def __init__(
            self,
            app: Any,
            secret_key: object = None,
            session_cookie: str = "session",
            max_age: int | None = 14 * 24 * 60 * 60,
            path: str = "/",
            same_site: str = "lax",
            https_only: bool = False,
            domain: str | None = None,
            partitioned: bool = False,
        ) -> None:
            settings: dict[str, Any] = {
                # Starlette's session_cookie is the exact name the browser holds.
                "cookie_name": session_cookie,
                "cookie_host_prefix": False,
                "cookie_path": path,
                "cookie_samesite": same_site,
                "cookie_domain": domain,
                "cookie_partitioned": partitioned,
            }
            if max_age is None:
                settings["expire_at_browser_close"] = True
            else:
                settings["cookie_age"] = max_age
            if https_only:
                settings["cookie_secure"] = True
            # preload: Starlette's middleware reads its cookie before every request, so
            # its sync request.session in async views never touches the store on the loop.
            super().__init__(app, store=store_url(), preload=True, **settings)

    class ReadmeSessionMiddleware(SessionMiddleware):
        """The README line: ``SessionMiddleware(app, store=...)``, Starlette's arguments dropped."""

        def __init__(self, app: Any, **_starlette_arguments: Any) -> None:
            super().__init__(app, store=store_url())

    return StarletteSessionMiddleware if MODE == "mapped" else ReadmeSessionMiddleware


# --- Flask (and Flask-Login): every Flask app gets Sessionary(app) ------------------------


def install_flask() -> None:
    import flask

    from sessionary.integrations.flask import Sessionary

    original_init = flask.Flask.__init__

    def init(self: flask.Flask, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        Sessionary(self, store=store_url())

    flask.Flask.__init__ = init  # type: ignore[method-assign]


# --- starsessions: SessionMiddleware, SessionAutoloadMiddleware, load_session -------------


def install_starsessions() -> None:
    """starsessions' constructor mapped as docs/migrating-from-starsessions.md maps it; its
    store object is replaced by a sessionary store; ``load_session(connection)`` is the
    guide's ``await request.session.aload()``."""
    import datetime
    import re

    import starsessions
    import starsessions.session

    from sessionary import SessionMiddleware

    class StarsessionsSessionMiddleware(SessionMiddleware):
        def __init__(
            self,
            app: Any,
            store: object,
            lifetime: int | datetime.timedelta = 0,
            rolling: bool = False,
            cookie_name: str = "session",
            cookie_same_site: str = "lax",
            cookie_https_only: bool = True,
            cookie_domain: str | None = None,
            cookie_path: str | None = None,
            serializer: object = None,
        ) -> None:
            seconds = int(lifetime.total_seconds() if isinstance(lifetime, datetime.timedelta) else lifetime)
            settings: dict[str, Any] = {
                "cookie_name": cookie_name,
                "cookie_host_prefix": False,
                "cookie_samesite": cookie_same_site,
                "cookie_secure": cookie_https_only,
                "cookie_domain": cookie_domain,
                "cookie_path": cookie_path or "/",
            }
            if seconds == 0:
                settings["expire_at_browser_close"] = True
            elif rolling:
                settings.update(cookie_age=seconds, save_every_request=True)
            else:
                settings.update(cookie_age=seconds, absolute_timeout=seconds)
            super().__init__(app, store=store_url(), **settings)

    class StarsessionsAutoloadMiddleware:
        """``SessionAutoloadMiddleware(app, paths)``: the session read before the view."""

        def __init__(self, app: Any, paths: list[str | re.Pattern[str]] | None = None) -> None:
            self.app = app
            self.paths = paths or []

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            path = scope.get("path", "")
            if not self.paths or any(
                path.startswith(p) if isinstance(p, str) else p.match(path) for p in self.paths
            ):
                await scope["session"].aload()
            await self.app(scope, receive, send)

    async def load_session(connection: Any) -> None:
        await connection.session.aload()

    starsessions.SessionMiddleware = StarsessionsSessionMiddleware  # type: ignore[misc]
    starsessions.SessionAutoloadMiddleware = StarsessionsAutoloadMiddleware  # type: ignore[misc]
    starsessions.load_session = load_session
    starsessions.session.load_session = load_session


# --- Litestar: ServerSideSessionConfig ------------------------------------------------------


def install_litestar() -> None:
    """Litestar's ``ServerSideSessionConfig(...)`` as the Litestar section of
    docs/frameworks.md maps it: a ``SessionaryConfig``, whose ``.middleware`` goes where
    Litestar's did (``middleware=[...]``, ``SessionAuth(session_backend_config=...)``,
    ``TestClient(session_config=...)``). The store Litestar names (``store="sessions"``,
    looked up in ``app.stores``) is a sessionary store."""
    import litestar.middleware.session.server_side as server_side

    from sessionary.integrations.litestar import SessionaryBackend, SessionaryConfig

    class LitestarServerSideSessionConfig(SessionaryConfig):
        def __init__(
            self,
            session_id_bytes: int = 32,
            renew_on_access: bool = False,
            key: str = "session",
            max_age: int = 14 * 24 * 60 * 60,
            scopes: object = None,
            path: str = "/",
            domain: str | None = None,
            secure: bool = False,
            httponly: bool = True,
            samesite: str = "lax",
            exclude: str | list[str] | None = None,
            exclude_opt_key: str = "skip_session",
            store: str = "sessions",
        ) -> None:
            settings: dict[str, Any] = {
                # Litestar's key is the exact name the browser holds.
                "cookie_name": key,
                "cookie_host_prefix": False,
                "cookie_age": max_age,
                "cookie_path": path,
                "cookie_domain": domain,
                "cookie_httponly": httponly,
                "cookie_samesite": samesite,
                # Litestar writes the session and its cookie on every response: its
                # sessions roll (renew_on_access adds nothing to that).
                "save_every_request": True,
            }
            if secure:
                settings["cookie_secure"] = True
            super().__init__(store_url(), exclude=exclude, exclude_opt_key=exclude_opt_key, **settings)

    def server_side_session_backend(config: SessionaryConfig) -> SessionaryBackend:
        """``ServerSideSessionBackend(config=...)``: the backend Litestar's TestClient makes."""
        return config._backend_class(config=config)

    server_side.ServerSideSessionConfig = LitestarServerSideSessionConfig  # type: ignore[misc]
    server_side.ServerSideSessionBackend = server_side_session_backend  # type: ignore[misc,assignment]


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    # Litestar's tests/conftest.py imports ServerSideSessionConfig by name, before
    # pytest_configure runs.
    if SUITE == "litestar" and MODE == "mapped":
        install_litestar()


def pytest_configure(config: pytest.Config) -> None:
    import _pytest.monkeypatch
    from _pytest.compat import NOTSET

    if not hasattr(_pytest.monkeypatch, "notset"):
        # Flask's conftest uses the name older pytest releases had for this sentinel.
        _pytest.monkeypatch.notset = NOTSET  # type: ignore[attr-defined]
    if SUITE == "starlette":
        import starlette.middleware.sessions as sessions

        sessions.SessionMiddleware = starlette_adapter()  # type: ignore[misc]
    elif SUITE in ("flask", "flask-login"):
        install_flask()
    elif SUITE == "starsessions":
        install_starsessions()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call" and report.outcome == "passed":
        return  # a passed setup or teardown says nothing about the test
    outcome = "skipped" if report.skipped else report.outcome
    line = json.dumps({"test": report.nodeid, "when": report.when, "outcome": outcome})
    # Opened per line: a file left open would itself be a ResourceWarning, an error here.
    with open(os.environ["SESSIONARY_SUITE_OUTCOMES"], "a") as outcomes:
        outcomes.write(line + "\n")


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Both of anyio's backends, as Starlette's own runs use."""
    return str(request.param)
