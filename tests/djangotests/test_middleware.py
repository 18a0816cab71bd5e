"""sessionary's ``SessionMiddleware`` against Django's own, request by request.

The same sequence of requests runs through Django's test client twice on the same
engine (Django's ``db``, ``cache``, ``cached_db`` and ``signed_cookies`` backends, and
``sessionary.django`` on every store): once under
``django.contrib.sessions.middleware.SessionMiddleware``, once under
``sessionary.django.middleware.SessionMiddleware``. Session keys are drawn from a
counter and the middlewares' clock is Django's test clock, so the two runs make the same
keys at the same instants, and every response's ``Set-Cookie`` must be the same text
(``response.cookies.output()``), each Morsel the same (its class, key, value, coded value
and every attribute) and ``Vary`` the same; and the status, the body and every other
header, but for the one rule ours adds: a response that sets the session cookie has its
caching headers rewritten by :func:`sessionary.caching.never_shared`.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import math
import pickle
import random
import types
from base64 import urlsafe_b64encode
from collections.abc import Callable, Iterator
from email.utils import formatdate
from http.cookies import Morsel
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.sessions import middleware as django_middleware
from django.contrib.sessions.backends import base as django_base
from django.contrib.sessions.models import Session
from django.core import signing
from django.core.cache import caches
from django.http import HttpResponse
from django.test import AsyncClient, Client, RequestFactory
from django.test.utils import override_settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from sessionary import caching
from sessionary.django import middleware as our_middleware
from sessionary.django import store as our_store
from sessionary.django.conf import session_settings

from .conftest import STORES, DjangoClock, Engines
from .differential import control_step

DJANGO = "django.contrib.sessions.middleware.SessionMiddleware"
OURS = "sessionary.django.middleware.SessionMiddleware"
DJANGO_ENGINES = {
    "db": "django.contrib.sessions.backends.db",
    "cache": "django.contrib.sessions.backends.cache",
    "cached_db": "django.contrib.sessions.backends.cached_db",
    "signed": "django.contrib.sessions.backends.signed_cookies",
}
ENGINES = [*DJANGO_ENGINES, *STORES]
REPORT = {"report": "1"}


def ops(*operations: list[Any], **options: Any) -> tuple[Any, ...]:
    return ("ops", list(operations), {**REPORT, **options})


def quiet(*operations: list[Any], **options: Any) -> tuple[Any, ...]:
    """Operations without the report: an untouched session stays untouched."""
    return ("ops", list(operations), options)


def aops(*operations: list[Any], **options: Any) -> tuple[Any, ...]:
    return ("aops", list(operations), {**REPORT, **options})


class Keys:
    """Session keys from a counter: the two runs of a sequence draw the same ones."""

    def __init__(self) -> None:
        self.drawn = 0

    def _next(self) -> bytes:
        self.drawn += 1
        return hashlib.sha256(f"session {self.drawn}".encode()).digest()

    def token(self) -> str:
        """As ``secrets.token_urlsafe(32)``: 43 URL-safe characters."""
        return urlsafe_b64encode(self._next()).rstrip(b"=").decode()

    def django_key(self, length: int = 12, allowed_chars: str = "") -> str:
        """As ``get_random_string(32, VALID_KEY_CHARS)`` (lower-case letters and digits)."""
        digest = self._next().hex()
        return digest[:length]


@contextlib.contextmanager
def fixed_keys_and_clock(clock: DjangoClock) -> Iterator[None]:
    """Deterministic session keys, and the middlewares' ``time.time()`` (and the signer's)
    reading Django's test clock, a quarter second past its whole second."""
    keys = Keys()
    fake_time = types.SimpleNamespace(time=lambda: clock.current.timestamp() + 0.25)
    patches = [
        (our_store, "new_token", keys.token),
        (django_base, "get_random_string", keys.django_key),
        (django_middleware, "time", fake_time),
        (our_middleware, "time", fake_time),
        (signing, "time", fake_time),
    ]
    saved = [(module, name, getattr(module, name)) for module, name, _ in patches]
    try:
        for module, name, value in patches:
            setattr(module, name, value)
        yield
    finally:
        for module, name, value in saved:
            setattr(module, name, value)


def morsels(response: Any) -> list[dict[str, Any]]:
    """Every cookie of the response as a client could tell it apart."""
    return [
        {
            "a Morsel": isinstance(morsel, Morsel),
            "name": name,
            "key": morsel.key,
            "value": morsel.value,
            "coded": morsel.coded_value,
            "state": vars(morsel),
            "attributes": [(key, type(value), value) for key, value in morsel.items()],
            "output": morsel.output(header=""),
            "repr": repr(morsel),
            "js": morsel.js_output(),
            "copy": morsel.copy(),
        }
        for name, morsel in response.cookies.items()
    ]


def headers(response: Any, *, made_private: bool) -> list[tuple[str, str]]:
    """The response's headers in order; with ``made_private``, as sessionary's rule
    (:mod:`sessionary.caching`) rewrites them when the session cookie is set: that is
    the one difference allowed."""
    found = list(response.items())
    if not made_private or settings.SESSION_COOKIE_NAME not in response.cookies:
        return found
    is_caching = {"cache-control", *caching.SHARED_ONLY_HEADERS}
    kept = [(name, value) for name, value in found if name.lower() not in is_caching]
    return caching.never_shared(kept + [(name, value) for name, value in found if name.lower() in is_caching])


def observe(response: Any, *, made_private: bool) -> dict[str, Any]:
    content_type = response.get("Content-Type", "")
    body = response.content.decode()
    if content_type.startswith("application/json"):
        body = json.loads(body)
        state = body.get("state")
        if state and "_auth_user_hash" in state["data"]:
            state["data"]["_auth_user_hash"] = "<hash>"
    return {
        "status": response.status_code,
        "body": body,
        "vary": response.get("Vary"),
        "headers": headers(response, made_private=made_private),
        "set-cookie": response.cookies.output(),
        "cookies": morsels(response),
    }


def engine_settings(engines: Engines, name: str) -> dict[str, Any]:
    if name in DJANGO_ENGINES:
        return {"SESSION_ENGINE": DJANGO_ENGINES[name]}
    return engines.settings(name)


def run(
    engines: Engines, engine: str, middleware: str, steps: list[Any], clock: DjangoClock, **extra: Any
) -> list[dict[str, Any]]:
    clock.reset()
    Session.objects.all().delete()
    caches["default"].clear()
    observations: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        stack.enter_context(fixed_keys_and_clock(clock))
        stack.enter_context(
            override_settings(
                MIDDLEWARE=[middleware if name == DJANGO else name for name in settings.MIDDLEWARE],
                **engine_settings(engines, engine),
                **extra,
            )
        )
        client = Client(raise_request_exception=False)
        aclient = AsyncClient(raise_request_exception=False)
        aclient.cookies = client.cookies
        for step in steps:
            if control_step(step, clock, stack, client):
                continue
            kind = step[0]
            data = {"ops": json.dumps(step[1]), **step[2]}
            if kind == "aops":
                response = async_to_sync(aclient.post)("/as/", data)
            else:
                response = client.post("/s/", data)
            observations.append(observe(response, made_private=middleware == DJANGO))
            after = client.cookies.get(settings.SESSION_COOKIE_NAME)
            if after is not None and after["max-age"] == 0:
                del client.cookies[settings.SESSION_COOKIE_NAME]  # as a browser drops it
    return observations


def compare(engines: Engines, engine: str, steps: list[Any], clock: DjangoClock, **extra: Any) -> None:
    """Django's middleware and ours on ``engine``: every response the same."""
    expected = run(engines, engine, DJANGO, steps, clock, **extra)
    actual = run(engines, engine, OURS, steps, clock, **extra)
    assert len(expected) == len(actual)
    for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
        assert got == want, f"step {index} differs\n  Django's: {want}\n  ours:     {got}"


SESSION_CHANGES = [
    quiet(),  # no session: nothing set, no Vary
    ops(["get", "a"]),  # a new session read: Vary only
    ops(["set", "a", 1]),  # created: the cookie
    quiet(),  # untouched
    ops(["get", "a"]),  # read
    ("advance", 30),
    ops(["set", "a", 2]),  # written
    ops(["set", "b", [1]], status="500"),  # not saved, no cookie
    ops(["get", "b"]),
    ops(["set", "b", 1], status="503"),
    ops(["expiry", "int", 300]),
    ("advance", 20),
    ops(["get", "a"]),
    ops(["expiry", "zero", 0]),  # until the browser closes
    ops(["set", "c", 3]),
    ops(["expiry", "none", None]),  # back to the cookie age
    ops(["expiry", "datetime", 900]),  # an instant
    ("advance", 100),
    ops(["set", "d", 4]),
    ops(["expiry", "timedelta", 600]),
    ops(["expiry", "float", 90.5]),
    ops(["cycle_key"]),
    ops(["set", "e", 5], headers=json.dumps({"Vary": "Accept-Encoding"})),
    ops(["set", "e", 6], headers=json.dumps({"Vary": "*"})),
    ops(["get", "e"], headers=json.dumps({"Vary": "accept, COOKIE"})),
    ops(["set", "f", 7], headers=json.dumps({"Cache-Control": "public, max-age=600"})),
    ops(["set", "f", 8], headers=json.dumps({"CDN-Cache-Control": "max-age=60", "X-Other": "kept"})),
    ops(["get", "f"], headers=json.dumps({"Surrogate-Control": "max-age=60"})),
    ops(["pop", "a"], ["pop", "b"], ["pop", "c"], ["pop", "d"], ["pop", "e"], ["pop", "f"]),  # emptied, kept
    ops(["flush"]),  # emptied and ended: the cookie deleted
    ops(["get", "a"]),
    ops(["flush"]),  # no cookie sent, nothing to delete
    ops(["set", "g", 1]),
    ops(["flush"], status="500"),  # deleted even on a 500
    ops(["set", "h", 1]),
    ops(["set", "h", 2], ["interrupt"]),  # SessionInterrupted: 400
    ops(["set", "i", 1]),
    aops(["set", "j", 1]),
    aops(["get", "j"]),
    aops(["expiry", "int", 120]),
    aops(["flush"]),
]

ROLLING = [
    ops(["set", "a", 1]),
    ("advance", 1),
    ops(["get", "a"]),  # read: the cookie refreshed
    quiet(),  # untouched: refreshed too (and loaded)
    ("advance", 3600),
    ops(["get", "a"]),
    ops(["get", "a"], status="500"),  # a 500: no save, no cookie
    ops(["expiry", "int", 50]),
    ("advance", 40),
    quiet(),
    ("advance", 40),
    ops(["get", "a"]),
    ops(["set", "b", 1], ["expiry", "zero", 0]),
    quiet(),
    ops(["expiry", "datetime", 100]),
    ("advance", 10),
    quiet(),
    aops(["get", "a"]),
    ops(["flush"]),
    quiet(),
]

VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "save every request": {"SESSION_SAVE_EVERY_REQUEST": True},
    "browser close": {"SESSION_EXPIRE_AT_BROWSER_CLOSE": True},
    "save every request, browser close": {
        "SESSION_SAVE_EVERY_REQUEST": True,
        "SESSION_EXPIRE_AT_BROWSER_CLOSE": True,
    },
    "cookie attributes": {
        "SESSION_COOKIE_NAME": "app_session",
        "SESSION_COOKIE_DOMAIN": ".example.com",
        "SESSION_COOKIE_PATH": "/app/",
        "SESSION_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": False,
        "SESSION_COOKIE_SAMESITE": "None",
        "SESSION_COOKIE_AGE": 120,
    },
    "no samesite, float age": {"SESSION_COOKIE_SAMESITE": False, "SESSION_COOKIE_AGE": 300.5},
    "strict, a __Host- name": {"SESSION_COOKIE_SAMESITE": "Strict", "SESSION_COOKIE_NAME": "__Host-session"},
    "no path, empty domain": {"SESSION_COOKIE_PATH": None, "SESSION_COOKIE_DOMAIN": ""},
    "without time zones": {"USE_TZ": False, "SESSION_SAVE_EVERY_REQUEST": True},
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("engine", ENGINES)
def test_session_changes(engine: str, variant: str, engines: Engines, djclock: DjangoClock) -> None:
    compare(engines, engine, SESSION_CHANGES, djclock, **VARIANTS[variant])


@pytest.mark.parametrize("variant", ["save every request", "save every request, browser close"])
@pytest.mark.parametrize("engine", ENGINES)
def test_rolling(engine: str, variant: str, engines: Engines, djclock: DjangoClock) -> None:
    compare(engines, engine, ROLLING, djclock, **VARIANTS[variant])


@pytest.mark.parametrize("engine", ENGINES)
def test_settings_changed_between_requests(engine: str, engines: Engines, djclock: DjangoClock) -> None:
    """The middleware reads the settings again after ``setting_changed``."""
    steps = [
        ops(["set", "a", 1]),
        ("settings", {"SESSION_COOKIE_SAMESITE": "Strict", "SESSION_COOKIE_AGE": 60}),
        ops(["set", "a", 2]),
        ("settings", {"SESSION_SAVE_EVERY_REQUEST": True, "SESSION_COOKIE_HTTPONLY": False}),
        ops(["get", "a"]),
        ("settings", {"SESSION_EXPIRE_AT_BROWSER_CLOSE": True}),
        quiet(),
        ops(["flush"]),
    ]
    compare(engines, engine, steps, djclock)


@pytest.mark.parametrize("engine", ["db", "sqlite"])
def test_a_view_that_sets_the_session_cookie_itself(
    engine: str, engines: Engines, djclock: DjangoClock
) -> None:
    """``set_cookie`` updates the Morsel already there, keeping what the view gave it."""
    cookie = json.dumps({"comment": "the view's", "max-age": 5})
    steps = [
        ops(["set", "a", 1], cookie=cookie),
        ops(["get", "a"], cookie=cookie),
        ops(["flush"], cookie=cookie),
    ]
    compare(engines, engine, steps, djclock)
    compare(engines, engine, steps, djclock, SESSION_SAVE_EVERY_REQUEST=True)


@pytest.mark.parametrize("engine", ["db", "memory"])
def test_an_invalid_samesite_fails_as_djangos_does(
    engine: str, engines: Engines, djclock: DjangoClock
) -> None:
    steps = [quiet(), ops(["set", "a", 1])]
    compare(engines, engine, steps, djclock, SESSION_COOKIE_SAMESITE="sometimes")
    assert run(engines, engine, OURS, steps, djclock, SESSION_COOKIE_SAMESITE="sometimes")[1]["status"] == 500


@pytest.mark.parametrize("engine", ["db", "memory"])
def test_malformed_and_unknown_cookies(engine: str, engines: Engines, djclock: DjangoClock) -> None:
    steps = [
        ("cookie", "abcdefghijklmnopqrstuvwxyz012345"),
        quiet(),
        ops(["get", "a"]),  # an unknown key: an empty session, the cookie deleted
        ("cookie", "tiny"),
        ops(["get", "a"]),
        ("cookie", "tiny"),
        ops(["set", "a", 1]),
    ]
    compare(engines, engine, steps, djclock)
    compare(engines, engine, steps, djclock, SESSION_SAVE_EVERY_REQUEST=True)


# --- random sequences ----------------------------------------------------------------------

keys = st.sampled_from(["a", "b"])
operation = st.one_of(
    st.tuples(st.just("set"), keys, st.integers(0, 3)).map(list),
    st.tuples(st.just("pop"), keys).map(list),
    st.tuples(st.just("get"), keys).map(list),
    st.just(["flush"]),
    st.just(["cycle_key"]),
    st.tuples(st.just("expiry"), st.just("int"), st.integers(-5, 400)).map(list),
    st.tuples(st.just("expiry"), st.just("datetime"), st.integers(-5, 400)).map(list),
    st.just(["expiry", "zero", 0]),
    st.just(["expiry", "none", None]),
)
step = st.one_of(
    st.lists(operation, max_size=3).map(lambda o: ops(*o)),
    st.lists(operation, max_size=2).map(lambda o: quiet(*o)),
    st.lists(operation, max_size=2).map(lambda o: ops(*o, status="500")),
    st.integers(1, 200).map(lambda s: ("advance", s)),
)


@pytest.mark.parametrize("engine", ["db", "memory"])
@pytest.mark.parametrize("rolling", [False, True], ids=["saved-when-modified", "save-every-request"])
@hypothesis_settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(steps=st.lists(step, min_size=1, max_size=8))
def test_random_sequences(
    engine: str, rolling: bool, steps: list[Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    from django.utils import timezone

    engines = Engines(tmp_path_factory.mktemp("middleware"))
    clock = DjangoClock()
    original = timezone.now
    timezone.now = clock.now  # type: ignore[assignment]
    try:
        compare(engines, engine, steps, clock, SESSION_SAVE_EVERY_REQUEST=rolling)
    finally:
        timezone.now = original  # type: ignore[assignment]
        engines.close()


# --- the parts -----------------------------------------------------------------------------


def test_expires_text_is_http_date_to_the_microsecond() -> None:
    """``Expires`` kept per second is ``http_date`` exactly, near a second's end too
    (``http_date`` rounds to the microsecond first)."""
    rng = random.Random(7)
    base = 1_800_000_000.0
    moments = [base + rng.random() * 10 for _ in range(2000)]
    for whole in range(5):
        for fraction in (0.0, 0.25, 0.999998, 0.9999994, 0.9999995, 0.9999996, 0.999999, 0.9999999):
            moments.append(base + whole + fraction)
            moments.append(math.nextafter(base + whole + 1, 0.0))
    moments += [0.0, 0.5, 86_399.9999996, 1e-7]
    for moment in moments + sorted(moments):
        assert our_middleware.expires_text(moment) == formatdate(moment, usegmt=True), moment


EXPIRES = "Thu, 01 Jan 2026 00:00:00 GMT"


@pytest.mark.parametrize("value", ["a" * 43, "a b;c", 12345])
@pytest.mark.parametrize("max_age", [60, 60.7, None])
def test_the_cookie_is_the_one_set_cookie_makes(value: Any, max_age: Any) -> None:
    """A cookie put straight into ``response.cookies`` equals (and pickles, copies and
    prints as) the one ``set_cookie`` makes, down to its private state."""
    templates = our_middleware.cookie_templates(session_settings())
    expires = None if max_age is None else EXPIRES
    ours = HttpResponse()
    our_middleware.set_session_cookie(templates, ours, value, max_age, expires)
    django = HttpResponse()
    templates.set_cookie(django, value, max_age, expires)
    mine, theirs = ours.cookies[templates.name], django.cookies[templates.name]
    assert isinstance(mine, Morsel) and type(theirs) is Morsel
    assert mine == theirs and vars(mine) == vars(theirs)
    assert [(k, type(v), v) for k, v in mine.items()] == [(k, type(v), v) for k, v in theirs.items()]
    for _ in range(2):  # made, then remembered
        assert mine.output() == theirs.output() and str(mine) == str(theirs) and repr(mine) == repr(theirs)
        assert mine.js_output() == theirs.js_output()
        assert mine.OutputString(["path"]) == theirs.OutputString(["path"])
        assert str(ours.cookies) == str(django.cookies)
    assert pickle.loads(pickle.dumps(mine)) == theirs and copy.copy(mine) == theirs
    assert type(mine.copy()) is Morsel
    mine["samesite"] = "Strict"  # a copy of the template, not the template itself
    assert templates.set["samesite"] == "Lax"


def test_a_changed_cookie_is_formatted_afresh() -> None:
    """The remembered ``Set-Cookie`` text is only that of the very same cookie."""
    templates = our_middleware.cookie_templates(session_settings())
    response = HttpResponse()
    our_middleware.set_session_cookie(templates, response, "a" * 43, 60, EXPIRES)
    cookie = response.cookies[templates.name]
    before = cookie.output()

    def plain() -> str:
        twin = Morsel()
        twin.set(cookie.key, cookie.value, cookie.coded_value)
        dict.update(twin, cookie)
        return twin.output()

    changes: list[Callable[[], Any]] = [
        lambda: cookie.__setitem__("samesite", "Strict"),
        lambda: cookie.__setitem__("max-age", 60.0),  # equal, but printed otherwise
        lambda: cookie.__setitem__("expires", 10),  # an int: dated from now
        lambda: cookie.update({"comment": "hello"}),
        lambda: cookie.set(cookie.key, "b" * 43, "b" * 43),
        lambda: dict.__setitem__(cookie, "partitioned", True),  # an extra attribute
        lambda: cookie.pop("partitioned"),
        lambda: cookie.__setitem__("secure", 1),
    ]
    for change in changes:
        change()
        assert cookie.output() == plain()
    assert cookie.output() != before


def test_process_response_without_a_session_is_left_alone() -> None:
    response = HttpResponse()
    request = RequestFactory().get("/")
    assert (
        our_middleware.SessionMiddleware(lambda r: response).process_response(request, response) is response
    )
    assert response.cookies == {} and not response.has_header("Vary")


def test_the_engine_is_read_when_the_middleware_is_made(engines: Engines) -> None:
    with override_settings(SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies"):
        made = our_middleware.SessionMiddleware(lambda request: HttpResponse())
    request = RequestFactory().get("/")
    made.process_request(request)
    assert type(request.session).__module__ == "django.contrib.sessions.backends.signed_cookies"


_KEY = "Ab-_" * 10 + "xyz"  # a sessionary key's shape


@pytest.mark.parametrize(
    "header",
    [
        f"sessionid={_KEY}",
        f"sessionid={_KEY}; csrftoken=abc",
        f"csrftoken=abc; sessionid={_KEY}",
        f"csrftoken=abc;sessionid={_KEY}",
        f"sessionid={_KEY}; sessionid=abcdefghijklmnopqrstuvwxyz012345",
        f"sessionid=abcdefghijklmnopqrstuvwxyz012345; sessionid={_KEY}",
        f'sessionid="{_KEY}"',
        f"sessionid = {_KEY}",
        f"a=sessionid; sessionid={_KEY}",
        f"sessionid={_KEY}x",
        "sessionid=abcdefghijklmnopqrstuvwxyz012345",
        "sessionid=tiny",
        "sessionid=caf\u00c3\u00a9",  # UTF-8 bytes as WSGI hands them over (latin-1)
        "csrftoken=abc",
        "",
    ],
)
def test_the_session_key_is_the_cookie_djangos_middleware_reads(header: str) -> None:
    """The key the session opens with is Django's ``request.COOKIES.get(name)``, whether
    the header takes the shortcut or the full parse."""
    made = our_middleware.SessionMiddleware(lambda request: HttpResponse())
    ours = RequestFactory().get("/", HTTP_COOKIE=header)
    made.process_request(ours)
    theirs = RequestFactory().get("/", HTTP_COOKIE=header)
    expected = made.SessionStore(theirs.COOKIES.get(settings.SESSION_COOKIE_NAME))
    assert ours.session.session_key == expected.session_key


def test_request_cookies_read_or_replaced_before_are_what_the_session_opens_with() -> None:
    made = our_middleware.SessionMiddleware(lambda request: HttpResponse())
    name = settings.SESSION_COOKIE_NAME
    replaced = RequestFactory().get("/", HTTP_COOKIE=f"{name}={_KEY}")
    other = "Zz9_" * 10 + "abc"
    replaced.COOKIES = {name: other}  # a middleware before this one rewrote the cookies
    made.process_request(replaced)
    assert replaced.session.session_key == other
    read = RequestFactory().get("/", HTTP_COOKIE=f"{name}={_KEY}")
    assert read.COOKIES[name] == _KEY
    read.COOKIES[name] = other
    made.process_request(read)
    assert read.session.session_key == other
