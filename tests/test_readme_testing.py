"""The README's and docs/testing.md's "testing your app" examples, run as written on every
store a test suite would use, Redis included (its keys expire by the server's own clock,
so a fake clock that starts in the past would end every session at once)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from conformance.stores_redis import delete_prefix
from services import REDIS_HOST, REDIS_PORT, REDIS_URL, require_module, require_port

ROOT = Path(__file__).resolve().parent.parent


def python_block_after(path: Path, heading: str) -> str:
    text = path.read_text()
    section = text[text.index(heading) :]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found, f"no python block after {heading!r} in {path.name}"
    return found.group(1)


def tutorial_app() -> Starlette:
    """The two views the README's example requests (the Django tutorial's)."""

    async def set_short_session(request: Request) -> PlainTextResponse:
        request.session["user"] = "Alice"
        request.session.set_expiry(10)
        return PlainTextResponse("Session set for 10 seconds")

    async def check_session(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"User in session: {request.session.get('user', 'No session')}")

    return Starlette(
        routes=[Route("/set-short-session", set_short_session), Route("/check-session", check_session)]
    )


@pytest.fixture(params=["sqlite", "memory", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
    elif request.param == "memory":
        yield "memory://"
    else:
        require_module("redis")
        require_port("Redis", REDIS_HOST, REDIS_PORT)
        prefix = f"sessionary-readme:{uuid.uuid4().hex[:12]}:"
        yield f"{REDIS_URL}?prefix={prefix}"
        client = redis.Redis.from_url(REDIS_URL)
        delete_prefix(client, prefix)
        client.close()


def run(code: str, store_url: str, namespace: dict[str, Any]) -> dict[str, Any]:
    assert '"sqlite:///test' in code  # the example's own store, replaced by the one under test
    code = re.sub(r'"sqlite:///test[^"]*"', repr(store_url), code)
    exec(compile(code, "example", "exec"), namespace)
    return namespace


def test_the_readme_example_works_on_every_store(store_url: str) -> None:
    code = python_block_after(ROOT / "README.md", "### Testing your app")
    # The session must be there until the clock moves (else "No session" proves nothing).
    before = 'assert "User in session: Alice" in client.get("/check-session").text; clock.advance(11)'
    assert "clock.advance(11)" in code
    code = code.replace("clock.advance(11)", before)
    run(code, store_url, {"my_app": tutorial_app(), "TestClient": TestClient})


def test_the_testing_guide_example_works_on_every_store(store_url: str) -> None:
    code = python_block_after(ROOT / "docs" / "testing.md", "## Testing your own app")
    namespace = run(code, store_url, {"my_app": tutorial_app()})
    clock, app = namespace["clock"], namespace["app"]
    clock.advance(seconds=-301)  # back to where the example started
    with TestClient(app, base_url="https://testserver") as client:
        client.get("/set-short-session")
        assert "User in session: Alice" in client.get("/check-session").text
        clock.advance(seconds=11)
        assert "User in session: No session" in client.get("/check-session").text
