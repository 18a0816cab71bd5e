"""Smoke test of the examples: each one started with its documented command on a free
port, driven over real HTTP (httpx) through the tutorial flow.

The client keeps the cookie by hand, as a browser does for ``http://127.0.0.1`` (it
sends Secure cookies to loopback addresses; httpx does not).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.services import free_port, port_open

from .cookies import session_cookie
from .frameworks import EXAMPLE_ARGS, EXAMPLE_OF, EXAMPLES, FRAMEWORKS

pytestmark = pytest.mark.slow


@pytest.fixture(params=FRAMEWORKS)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            str(EXAMPLES / EXAMPLE_OF.get(request.param, request.param) / "app.py"),
            *EXAMPLE_ARGS.get(request.param, []),
            "--port",
            str(port),
        ],
        cwd=tmp_path,  # the default store, sqlite:///example-sessions.db, lands here
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while not port_open("127.0.0.1", port, timeout=0.2):
            if process.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(
                    f"{request.param} example did not start:\n{(tmp_path / 'server.log').read_text()}"
                )
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
    assert (tmp_path / "example-sessions.db").exists()


class Visitor:
    def __init__(self, base_url: str) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=10)
        self.token: str | None = None

    def send(self, method: str, path: str, *, token: str | None = None, **kwargs: object) -> httpx.Response:
        cookie = token or self.token
        headers = {"Cookie": f"__Host-sessionid={cookie}"} if cookie else {}
        self.client.cookies.clear()
        response = self.client.request(method, path, headers=headers, **kwargs)  # type: ignore[arg-type]
        set_cookie = session_cookie(response.headers.get_list("set-cookie"), "__Host-sessionid")
        if set_cookie is not None and token is None:
            self.token = None if set_cookie.deletes else set_cookie.value
        return response


def test_tutorial_flow_over_http(server: str) -> None:
    visitor = Visitor(server)
    assert visitor.send("GET", "/").status_code == 200
    assert visitor.send("GET", "/check-session").text.strip() == "User in session: No session"

    response = visitor.send("GET", "/set-short-session")
    cookie = session_cookie(response.headers.get_list("set-cookie"), "__Host-sessionid")
    assert cookie is not None and cookie.max_age == 10
    assert {"httponly", "secure"} <= set(cookie.attributes)
    assert visitor.send("GET", "/check-session").text.strip() == "User in session: Alice"

    anonymous = visitor.token
    response = visitor.send("POST", "/login", data={"username": "alice"})
    assert response.status_code == 200, response.text
    assert visitor.token not in (None, anonymous)
    assert visitor.send("GET", "/check-session").text.strip() == "User in session: alice"
    assert (
        visitor.send("GET", "/check-session", token=anonymous).text.strip() == "User in session: No session"
    )
    sessions = visitor.send("GET", "/sessions").json()
    assert len(sessions) == 1 and sessions[0]["current"] is True

    signed_in = visitor.token
    response = visitor.send("POST", "/logout")
    assert response.status_code == 200
    assert visitor.token is None
    assert (
        visitor.send("GET", "/check-session", token=signed_in).text.strip() == "User in session: No session"
    )


def test_every_example_is_in_the_examples_table() -> None:
    """Each folder of examples/ has its row, with the command that runs it."""
    table = (EXAMPLES / "README.md").read_text()
    folders = sorted(
        path.name for path in EXAMPLES.iterdir() if path.is_dir() and not path.name.startswith("_")
    )
    assert "django" in folders
    for folder in folders:
        assert f"examples/{folder}/" in table, f"examples/{folder} is missing from examples/README.md"
    readme = (EXAMPLES.parent / "README.md").read_text()
    assert "examples/django/run" in readme


def test_the_django_example_answers_the_same_tutorial_urls() -> None:
    """/set-short-session and /check-session, as every other example and the demo."""
    urls = (EXAMPLES / "django" / "tutorial" / "urls.py").read_text()
    for app in sorted(EXAMPLES.glob("*/app.py")):
        source = app.read_text()
        assert "/set-short-session" in source and "/check-session" in source, app.parent.name
    assert 'path("set-short-session"' in urls and 'path("check-session"' in urls
