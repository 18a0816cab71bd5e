"""The example app: ``sessionary demo`` serves the Django session-expiry tutorial.

Needs the ``demo`` extra (Starlette, python-multipart, uvicorn): ``pip install 'sessionary[demo]'``.
"""

from __future__ import annotations

from typing import Any


def create_app(*args: Any, **kwargs: Any) -> Any:
    """The demo as an ASGI app; see :func:`sessionary.demo.app.create_app`."""
    from .app import create_app as build

    return build(*args, **kwargs)


def serve(*, host: str, port: int, store: str) -> None:
    """Serve the demo with uvicorn until interrupted."""
    try:
        import uvicorn

        from .app import create_app as build
    except ImportError as exc:
        raise SystemExit(
            f"sessionary demo needs {exc.name!r}: install it with pip install 'sessionary[demo]'"
        ) from None
    app = build(store)
    print(f"sessionary demo on http://{host}:{port}/ (store: {app.state.manager.store.name})", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="info", server_header=False)
