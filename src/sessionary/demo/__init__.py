"""The example app: ``sessionary demo`` serves the Django session-expiry tutorial.

Needs the ``demo`` extra (Starlette, python-multipart, uvicorn): ``pip install 'sessionary[demo]'``.
"""

from __future__ import annotations

import os
from typing import Any


def create_app(*args: Any, **kwargs: Any) -> Any:
    """The demo as an ASGI app; see :func:`sessionary.demo.app.create_app`."""
    from .app import create_app as build

    return build(*args, **kwargs)


def serve(
    *,
    host: str,
    port: int,
    store: str,
    host_prefix: bool = False,
    insecure_cookie: bool = False,
    dbsc: bool = False,
) -> None:
    """Serve the demo with uvicorn until interrupted.

    ``host_prefix`` names the cookie ``__Host-sessionid``. Browsers accept a Secure
    cookie (the default) over plain HTTP only from ``localhost`` and ``127.0.0.1``;
    anywhere else, serve the demo behind HTTPS, or pass ``insecure_cookie`` (local
    testing only) to drop ``Secure``.
    """
    try:
        import uvicorn

        from .app import create_app as build
    except ImportError as exc:
        raise SystemExit(
            f"sessionary demo needs {exc.name!r}: install it with pip install 'sessionary[demo]'"
        ) from None
    app = build(store, host_prefix=host_prefix, insecure_cookie=insecure_cookie, dbsc=dbsc)
    manager = app.state.manager
    migrate = getattr(manager.store.sync, "migrate", None)
    if migrate is not None:
        # A SQL store never creates its tables by itself; the demo is a one-command
        # try-out, so it runs `sessionary migrate` for you (idempotent) and says so.
        migrate()
        print(
            f"sessionary demo: tables ready in {manager.store.name} (as `sessionary migrate` does)",
            flush=True,
        )
    if manager.store.codec is not None and not os.environ.get("SESSIONARY_SECRET_KEYS"):
        print(
            "sessionary demo: cookie:// signs with a random key for this run (set SESSIONARY_SECRET_KEYS to keep one)",
            flush=True,
        )
    print(
        f"sessionary demo on http://{host}:{port}/ (store: {manager.store.name}, "
        f"cookie: {manager.config.session_cookie_name})",
        flush=True,
    )
    if manager.config.cookie_secure and host not in ("127.0.0.1", "localhost", "::1"):
        print(
            "sessionary demo: the cookie is Secure; over plain http, browsers keep it only at "
            "http://localhost or http://127.0.0.1. From another address, serve the demo behind https "
            "or start it with --insecure-cookie (local testing only).",
            flush=True,
        )
    uvicorn.run(app, host=host, port=port, log_level="info", server_header=False, log_config=log_config())


def log_config() -> dict[str, Any]:
    """uvicorn's logging, plus sessionary's warnings and errors (a store failure, a rejected
    cookie) on the same handler: the demo is an app, so it chooses where they go."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["sessionary"] = {"handlers": ["default"], "level": "WARNING", "propagate": False}
    return config
