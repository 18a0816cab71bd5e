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


def serve(*, host: str, port: int, store: str, host_prefix: bool = False, dbsc: bool = False) -> None:
    """Serve the demo with uvicorn until interrupted.

    ``host_prefix`` names the cookie ``__Host-sessionid``. Browsers accept its Secure
    cookie over plain HTTP only from ``localhost`` and ``127.0.0.1``; anywhere else,
    serve the demo behind HTTPS.
    """
    try:
        import uvicorn

        from .app import create_app as build
    except ImportError as exc:
        raise SystemExit(
            f"sessionary demo needs {exc.name!r}: install it with pip install 'sessionary[demo]'"
        ) from None
    app = build(store, host_prefix=host_prefix, dbsc=dbsc)
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
    uvicorn.run(app, host=host, port=port, log_level="info", server_header=False)
