"""What is particular to the WSGI middleware under Flask: Flask's own error handling.

The shared decisions run through Flask in ``test_http.py``; here Flask is in its
production mode (``testing=False``), where it turns a view's exception into its own
500 page before the middleware sees it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from sessionary import SessionManager, WSGISessionMiddleware
from sessionary.testing import FakeClock
from sessionary.tokens import new_token
from support.http_apps import Browser, cookie_value
from support.spies import RecordingSQLite, recording_store


@pytest.fixture
def production(tmp_path: Path, clock: FakeClock) -> Iterator[tuple[Browser, RecordingSQLite]]:
    store, backend = recording_store(tmp_path / "sessions.db")
    manager = SessionManager(store, clock=clock)
    yield Browser("wsgi", manager, flask_testing=False), backend
    manager.close()


def test_store_failure_in_a_view_is_503_not_flasks_500(
    production: tuple[Browser, RecordingSQLite], caplog: pytest.LogCaptureFixture
) -> None:
    browser, backend = production
    token = cookie_value(browser.get("/set", cookie=None).set_cookies[0])
    backend.failing.add("load")
    with caplog.at_level(logging.ERROR, logger="sessionary"):
        reply = browser.get("/read", cookie=f"__Host-sessionid={token}")
    assert reply.status == 503
    assert reply.set_cookies == []
    assert any(backend.name in r.getMessage() for r in caplog.records if r.name == "sessionary")


def test_session_gone_in_a_view_is_400_not_flasks_500(production: tuple[Browser, RecordingSQLite]) -> None:
    browser, _ = production
    reply = browser.get("/save-now", cookie=f"__Host-sessionid={new_token()}")
    assert (reply.status, reply.set_cookies) == (400, [])


def test_unrelated_500_is_left_alone(production: tuple[Browser, RecordingSQLite]) -> None:
    browser, _ = production
    reply = browser.get("/set", cookie=None, status=500)
    assert (reply.status, reply.set_cookies) == (500, [])


def test_plain_wsgi_app_and_a_custom_environ_key(tmp_path: Path, clock: FakeClock) -> None:
    """No framework at all: the session is in the environ under the key asked for."""

    def app(environ: dict[str, object], start_response: object) -> list[bytes]:
        session = environ["my.session"]
        session["visits"] = session.get("visits", 0) + 1  # type: ignore[attr-defined]
        start_response("200 OK", [("Content-Type", "text/plain")])  # type: ignore[operator]
        return [str(session["visits"]).encode()]  # type: ignore[index]

    import werkzeug.test

    manager = SessionManager(f"sqlite:///{tmp_path}/plain.db", clock=clock)
    client = werkzeug.test.Client(WSGISessionMiddleware(app, manager=manager, environ_key="my.session"))
    try:
        bodies = [client.get("/", base_url="https://testserver").get_data(as_text=True) for _ in range(3)]
        assert bodies == ["1", "2", "3"]
    finally:
        manager.close()
