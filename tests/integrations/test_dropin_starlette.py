"""Switching a Starlette or FastAPI app to sessionary keeps its tests working (issue 14):
through Starlette's own ``TestClient`` on its default ``http://testserver``, on every store."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi import Request as FastAPIRequest
from fastapi.testclient import TestClient as FastAPITestClient
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from sessionary import Config, SessionMiddleware

from .cookies import parse_set_cookie


async def sign_in(request: Request) -> Response:
    request.session["user"] = "alice"
    return PlainTextResponse("in")


async def whoami(request: Request) -> Response:
    return PlainTextResponse(request.session.get("user", "nobody"))


async def as_json(request: Request) -> Response:
    return JSONResponse(request.session)  # Starlette's session was a dict


async def dict_api(request: Request) -> Response:
    session = request.session
    seen: dict[str, Any] = {"empty_equals": session == {}, "ne": session != {}}
    session |= {"a": 1, "b": 2}
    seen["after_ior"] = dict(session)
    seen["or"] = session | {"c": 3}
    seen["ror"] = {"z": 0} | session
    seen["popitem"] = list(session.popitem())
    seen["equals"] = session == {"a": 1}
    seen["copy"] = session.copy()
    seen["isinstance"] = isinstance(session, dict)
    seen["json"] = {**session}
    return JSONResponse(seen)


def app_with(*middleware: Middleware) -> Starlette:
    routes = [
        Route("/in", sign_in),
        Route("/me", whoami),
        Route("/json", as_json),
        Route("/dict", dict_api),
    ]
    return Starlette(routes=routes, middleware=list(middleware))


@pytest.fixture
def client(store_url: str) -> Iterator[TestClient]:
    with TestClient(app_with(Middleware(SessionMiddleware, store=store_url))) as client:
        yield client


def test_the_readme_line_keeps_sessions_in_the_default_test_client(client: TestClient) -> None:
    assert str(client.base_url) == "http://testserver"
    set_cookie = client.get("/in").headers["set-cookie"]
    # only for the test client's host over plain http
    assert "secure" not in parse_set_cookie(set_cookie).attributes
    assert client.get("/me").text == "alice"


def test_relaxing_secure_is_said_in_the_log(store_url: str, caplog: pytest.LogCaptureFixture) -> None:
    from sessionary.integrations import asgi

    asgi._warned_test_client = False
    app = app_with(Middleware(SessionMiddleware, store=store_url))
    with caplog.at_level(logging.WARNING, logger="sessionary"), TestClient(app) as client:
        client.get("/in")
        client.get("/in")
    said = [r.getMessage() for r in caplog.records if "without Secure" in r.getMessage()]
    assert len(said) == 1 and "testserver" in said[0] and "https://testserver" in said[0]


@pytest.mark.parametrize(
    ("base_url", "host"),
    [
        ("https://testserver", None),  # https: always Secure
        ("http://testserver", "127.0.0.1"),  # a proxy that rewrites the Host
        ("http://testserver", "example.com"),  # TLS ended at a proxy, the app sees http
    ],
)
def test_production_requests_keep_secure(store_url: str, base_url: str, host: str | None) -> None:
    app = app_with(Middleware(SessionMiddleware, store=store_url))
    with TestClient(app, base_url=base_url) as client:
        headers = {"host": host} if host else {}
        assert client.get("/in", headers=headers).headers["set-cookie"].endswith("; secure")


@pytest.mark.parametrize("explicit", [{"cookie_secure": True}, {"config": Config()}])
def test_an_explicit_secure_setting_is_kept_even_for_the_test_client(
    store_url: str, explicit: dict[str, Any]
) -> None:
    with TestClient(app_with(Middleware(SessionMiddleware, store=store_url, **explicit))) as client:
        assert client.get("/in").headers["set-cookie"].endswith("; secure")
        assert client.get("/me").text == "nobody"  # as with Starlette's https_only=True


def test_json_response_of_the_session(client: TestClient) -> None:
    assert client.get("/json").json() == {}
    client.get("/in")
    assert client.get("/json").json() == {"user": "alice"}


def test_the_session_is_the_dict_it_was(client: TestClient) -> None:
    seen = client.get("/dict").json()
    assert seen == {
        "empty_equals": True,
        "ne": False,
        "after_ior": {"a": 1, "b": 2},
        "or": {"a": 1, "b": 2, "c": 3},
        "ror": {"z": 0, "a": 1, "b": 2},
        "popitem": ["b", 2],
        "equals": True,
        "copy": {"a": 1},
        "isinstance": True,
        "json": {"a": 1},
    }
    # What |= and popitem() changed was saved, as any other change.
    assert client.get("/json").json() == {"a": 1}


def test_fastapi_default_test_client(store_url: str) -> None:
    app = FastAPI()
    app.add_middleware(SessionMiddleware, store=store_url)

    @app.post("/in")
    async def fastapi_sign_in(request: FastAPIRequest) -> dict[str, str]:
        request.session["user"] = "bob"
        return {"ok": "in"}

    @app.get("/me")
    async def fastapi_me(request: FastAPIRequest) -> dict[str, Any]:
        return request.session  # type: ignore[return-value]  # FastAPI serializes the dict

    with FastAPITestClient(app) as client:
        client.post("/in")
        assert client.get("/me").json() == {"user": "bob"}


async def count(request: Request) -> Response:
    await request.session.aset("n", (await request.session.aget("n", 0)) + 1)
    return PlainTextResponse(str(request.session["n"]))


def test_a_new_event_loop_per_request_leaks_nothing(store_url: str) -> None:
    """A ``TestClient`` used without ``with`` runs each request on a new event loop; under
    ``filterwarnings = error`` (Starlette's own setting) nothing may be left unclosed."""
    import gc
    import warnings

    app = SessionMiddleware(Starlette(routes=[Route("/", count)]), store=store_url)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = TestClient(app)  # no `with`
        assert [client.get("/").text for _ in range(3)] == ["1", "2", "3"]
        del client, app
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_every_store_under_both_anyio_backends(store_url: str, backend: str) -> None:
    """Starlette runs on anyio: under trio there is no asyncio loop, and the Redis and
    PostgreSQL stores then call their sync face on trio's worker threads."""

    async def sign_out(request: Request) -> Response:
        await request.session.aflush()
        return PlainTextResponse("out")

    routes = [Route("/", count), Route("/out", sign_out)]
    app = SessionMiddleware(Starlette(routes=routes), store=store_url)
    with TestClient(app, backend=backend) as client:
        assert [client.get("/").text for _ in range(3)] == ["1", "2", "3"]
        client.get("/out")
        assert client.get("/").text == "1"


def _attribute_spelling(set_cookie: str) -> list[str]:
    """Each attribute's name as the header spells it, with the SameSite value."""
    spelled = []
    for attribute in set_cookie.split("; ")[1:]:
        name, _, value = attribute.partition("=")
        spelled.append(f"{name}={value}" if name.lower() == "samesite" else name)
    return spelled


def test_the_cookie_is_spelled_as_starlettes_own_middleware_spells_it(store_url: str) -> None:
    """Tests and tools written against Starlette's header (``path=``, ``samesite=lax``)
    keep working: every attribute both middlewares send is spelled alike."""
    from starlette.middleware.sessions import SessionMiddleware as StarlettesOwn

    options = {"path": "/", "domain": "example.com", "https_only": True, "partitioned": True}
    with TestClient(app_with(Middleware(StarlettesOwn, secret_key="k", **options))) as client:
        theirs = _attribute_spelling(client.get("/in").headers["set-cookie"])
    ours = Middleware(
        SessionMiddleware,
        store=store_url,
        cookie_host_prefix=False,
        cookie_domain="example.com",
        cookie_partitioned=True,
        cookie_secure=True,
    )
    with TestClient(app_with(ours), base_url="https://testserver") as client:
        spelled = _attribute_spelling(client.get("/in").headers["set-cookie"])
    assert theirs == ["path", "Max-Age", "httponly", "samesite=lax", "secure", "domain", "partitioned"]
    assert sorted(spelled) == sorted([*theirs, "expires"])  # Django's expires, beside Max-Age

    with TestClient(
        app_with(Middleware(SessionMiddleware, store=store_url, starlette_spelling=False)),
        base_url="https://testserver",
    ) as client:
        assert _attribute_spelling(client.get("/in").headers["set-cookie"]) == [
            "expires",
            "HttpOnly",
            "Max-Age",
            "Path",
            "SameSite=Lax",
            "Secure",
        ]
