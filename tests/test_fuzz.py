"""Fuzzing what comes from outside: the Cookie header, signed cookies, and stored records.

Hypothesis drives the real middlewares and the real apps of ``http_apps`` (Starlette
under the ASGI middleware, Flask under the WSGI one), called directly with the raw
header bytes an HTTP server would hand over (so bytes no HTTP client would send, such
as invalid UTF-8, reach them too), on real stores. Two sessions exist, a victim's and
an attacker's; the attacker controls the header (and, for stored records, the victim's
record itself). The properties:

* the answer is never a 500: a bad cookie is no session (200), a record that is not a
  session is a store failure (503, no cookie, the record left alone);
* the data served is never the victim's unless the victim's token was sent as it is;
* the attacker's own session is still served, with its data.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sessionary import SessionManager
from sessionary.errors import StoreCorrupted
from sessionary.stores.base import _META_TYPES, META_FIELDS, Meta, _is_a
from sessionary.stores.redis import scripts as lua
from sessionary.tokens import new_token, store_key
from support.http_apps import flask_app, starlette_app

pytestmark = pytest.mark.slow

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class App:
    """One manager, its Starlette and Flask apps, and a way to call either with raw bytes."""

    def __init__(self, manager: SessionManager) -> None:
        self.manager = manager
        self.loop = asyncio.new_event_loop()  # one loop: network stores keep their connections
        self.asgi = starlette_app(manager, {})
        self.wsgi = flask_app(manager, {}, testing=False)

    def close(self) -> None:
        self.loop.run_until_complete(self.manager.aclose())
        self.loop.close()
        self.manager.close()

    def call(self, kind: str, cookie: bytes | None, path: str = "/read") -> tuple[int, dict[str, str], str]:
        if kind == "asgi":
            return self._asgi(cookie, path)
        return self._wsgi(cookie, path)

    def _asgi(self, cookie: bytes | None, path: str) -> tuple[int, dict[str, str], str]:
        headers = [(b"host", b"testserver")] + ([(b"cookie", cookie)] if cookie is not None else [])
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "https",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 443),
        }
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        try:
            self.loop.run_until_complete(self.asgi(scope, receive, send))
        except Exception:
            if not sent:
                return 500, {}, "exception"
        start = sent[0]
        response_headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in start["headers"]}
        body = b"".join(m.get("body", b"") for m in sent[1:]).decode("utf-8", "replace")
        return start["status"], response_headers, body

    def _wsgi(self, cookie: bytes | None, path: str) -> tuple[int, dict[str, str], str]:
        environ: dict[str, Any] = {}
        setup_testing_defaults(environ)
        environ["PATH_INFO"] = path
        environ["wsgi.url_scheme"] = "https"
        if cookie is not None:
            environ["HTTP_COOKIE"] = cookie.decode("latin-1")  # PEP 3333
        started: list[tuple[str, list[tuple[str, str]]]] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started.append((status, headers))
            return lambda data: None

        body = b"".join(self.wsgi(environ, start_response)).decode("utf-8", "replace")
        status, headers = started[-1]
        return int(status.split()[0]), {k.lower(): v for k, v in headers}, body


def make_session(manager: SessionManager, user: str) -> str:
    session = manager.open(None)
    session["user"] = user
    session["secret"] = f"{user}'s data"
    session.save()
    assert session.session_key is not None
    return session.session_key


def served_user(body: str) -> str:
    assert body.startswith("user="), body
    return body[len("user=") :]


# --- the Cookie header ----------------------------------------------------------------------

TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@st.composite
def mutated(draw: st.DrawFn, token: str) -> str:
    """``token`` changed so that it no longer contains itself: a character replaced, cut
    short, a letter's case flipped, or spliced with another token."""
    how = draw(st.sampled_from(["replace", "truncate", "case", "splice"]))
    if how == "replace":
        index = draw(st.integers(0, len(token) - 1))
        char = draw(st.sampled_from(TOKEN_ALPHABET + "é=.+/ \x00\x7f"))
        assume(char != token[index])
        return token[:index] + char + token[index + 1 :]
    if how == "truncate":
        return token[: draw(st.integers(0, len(token) - 1))]
    if how == "case":
        letters = [i for i, c in enumerate(token) if c.isalpha()]
        index = draw(st.sampled_from(letters))
        return token[:index] + token[index].swapcase() + token[index + 1 :]
    other = new_token()
    cut = draw(st.integers(1, len(token) - 1))
    return token[:cut] + other[cut:]


def cookie_header(victim: str, attacker: str) -> st.SearchStrategy[bytes]:
    names = st.sampled_from(
        ["__Host-sessionid", "__Host-sessionid", "SESSIONID", " sessionid", "sessionid ", "sid", ""]
    )
    values = st.one_of(
        mutated(victim),
        st.just(attacker),
        st.text(max_size=60),
        st.binary(max_size=60).map(lambda b: b.decode("latin-1")),
        st.sampled_from(['""', '"', "=", ";", "\\", "%00", "a" * 5000]),
        st.builds(lambda t: f'"{t}"', mutated(victim)),
    )
    pair = st.builds(lambda name, value: f"{name}={value}", names, values) | st.text(max_size=20)
    separators = st.sampled_from(["; ", ";", ", ", " ;", ";;", "\t;"])

    @st.composite
    def header(draw: st.DrawFn) -> bytes:
        pairs = draw(st.lists(pair, min_size=0, max_size=8))
        text = ""
        for index, part in enumerate(pairs):
            text += (draw(separators) if index else "") + part
        raw = text.encode("utf-8", "surrogatepass")
        if draw(st.booleans()):
            raw += draw(st.binary(max_size=30))  # invalid UTF-8 and raw bytes
        if draw(st.integers(0, 9)) == 0:
            raw = raw * draw(st.integers(50, 400))  # oversized
        # An HTTP server never hands over a line break inside a header value.
        return raw.replace(b"\r", b"").replace(b"\n", b"")

    return header()


@pytest.fixture
def sqlite_app(tmp_path: Path) -> Iterator[App]:
    app = App(SessionManager(f"sqlite:///{tmp_path}/fuzz.db"))
    yield app
    app.close()


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_fuzzed_cookie_headers_never_fail_and_never_serve_someone_else(kind: str, sqlite_app: App) -> None:
    manager = sqlite_app.manager
    victim, attacker = make_session(manager, "victim"), make_session(manager, "attacker")

    @FUZZ
    @given(header=cookie_header(victim, attacker))
    def check(header: bytes) -> None:
        assume(victim.encode() not in header)
        status, _, body = sqlite_app.call(kind, header)
        assert status == 200, body
        assert served_user(body) in ("-", "attacker")

    check()
    assert served_user(sqlite_app.call(kind, f"__Host-sessionid={victim}".encode())[2]) == "victim"
    assert served_user(sqlite_app.call(kind, f"__Host-sessionid={attacker}".encode())[2]) == "attacker"


# --- signed cookies (cookie://) ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_tampered_signed_cookies_never_open_a_session(kind: str) -> None:
    app = App(SessionManager("cookie://", secret_keys=(secrets.token_urlsafe(32),)))
    try:
        victim, attacker = make_session(app.manager, "victim"), make_session(app.manager, "attacker")
        payload_victim, _, signature_victim = victim.rpartition(".")
        payload_attacker, _, signature_attacker = attacker.rpartition(".")
        spliced = st.sampled_from(
            [f"{payload_victim}.{signature_attacker}", f"{payload_attacker}.{signature_victim}"]
        )
        forged = st.builds(
            lambda data: f"{_b64(json.dumps(data))}.{signature_attacker}",
            st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3),
        )

        @FUZZ
        @given(value=st.one_of(mutated(victim), mutated(attacker), spliced, forged, st.text(max_size=200)))
        def check(value: str) -> None:
            assume(victim not in value and attacker not in value)
            status, _, body = app.call(kind, f"__Host-sessionid={value}".encode("utf-8", "surrogatepass"))
            assert status == 200, body
            assert served_user(body) == "-"

        check()
        assert served_user(app.call(kind, f"__Host-sessionid={victim}".encode())[2]) == "victim"
    finally:
        app.close()


def _b64(text: str) -> str:
    import base64

    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


# --- records that are not sessions, written straight into the store -------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


def garbage_text() -> st.SearchStrategy[str]:
    """Text a broken writer might leave: JSON of the wrong shape, cut short, or not JSON."""
    as_json = JSON.map(lambda value: json.dumps(value))
    truncated = st.builds(lambda text, cut: text[: max(0, len(text) - cut)], as_json, st.integers(1, 5))
    return st.one_of(
        as_json,
        truncated,
        st.text(max_size=30),
        st.sampled_from(["[" * 5000, "NaN", "Infinity", '{"a": NaN}', "", "null", '{"user": "victim"']),
    )


SEEN: set[int] = set()
"""The statuses the stored-garbage tests met (each asserts it saw refusals, not only 200s)."""


def check_stored_garbage(app: App, kind: str, victim: str, attacker: str, corrupt: Any, restore: Any) -> None:
    """With the victim's record corrupted, the victim's token answers 200 or 503, never
    500, never with someone else's session; the attacker's session is untouched."""
    status, headers, body = app.call(kind, f"__Host-sessionid={victim}".encode())
    restore()
    SEEN.add(status)
    assert status in (200, 503), body
    if status == 503:
        assert "set-cookie" not in headers
    else:
        # The victim's own record, with whatever values were written into it: never another's.
        assert served_user(body) != "attacker"
    assert served_user(app.call(kind, f"__Host-sessionid={attacker}".encode())[2]) == "attacker"


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_garbage_in_sqlite_rows_is_never_a_500(
    kind: str, sqlite_app: App, caplog: pytest.LogCaptureFixture
) -> None:
    import sqlite3

    manager = sqlite_app.manager
    victim, attacker = make_session(manager, "victim"), make_session(manager, "attacker")
    path = manager.store.sync.path  # type: ignore[attr-defined]
    key = store_key(victim)
    with sqlite3.connect(path) as connection:
        original = connection.execute(
            "SELECT data, meta, expires_at FROM sessionary_sessions WHERE key = ?", (key,)
        ).fetchone()

    values = st.one_of(
        garbage_text(), st.binary(max_size=20), st.integers(-(2**63), 2**63 - 1), st.floats(), st.none()
    )

    @FUZZ
    @given(
        column=st.sampled_from(["data", "meta", "expires_at", "meta-field"]),
        value=values,
        field=st.sampled_from(
            ["created_at", "issued_at", "last_seen", "saved_deadline", "auth_at", "user_id", "idle_timeout"]
        ),
        field_value=JSON,
    )
    def check(column: str, value: Any, field: str, field_value: Any) -> None:
        with sqlite3.connect(path) as connection:
            if column == "meta-field":
                meta = json.loads(original[1])
                meta[field] = field_value
                connection.execute(
                    "UPDATE sessionary_sessions SET meta = ? WHERE key = ?", (json.dumps(meta), key)
                )
            else:
                try:
                    connection.execute(
                        f"UPDATE sessionary_sessions SET {column} = ? WHERE key = ?", (value, key)
                    )
                except sqlite3.IntegrityError:
                    assume(False)  # NOT NULL: SQLite itself refuses this garbage

        def restore() -> None:
            with sqlite3.connect(path) as connection:
                connection.execute(
                    "UPDATE sessionary_sessions SET data = ?, meta = ?, expires_at = ? WHERE key = ?",
                    (*original, key),
                )

        check_stored_garbage(sqlite_app, kind, victim, attacker, None, restore)

    SEEN.clear()
    with caplog.at_level(logging.CRITICAL, logger="sessionary"):
        check()
    assert {200, 503} == SEEN


@pytest.mark.redis
@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_garbage_in_redis_hashes_is_never_a_500(kind: str, caplog: pytest.LogCaptureFixture) -> None:
    from conformance.stores_redis import redis_store

    with redis_store(Path(".")) as store:
        app = App(SessionManager(store))
        try:
            manager = app.manager
            victim, attacker = make_session(manager, "victim"), make_session(manager, "attacker")
            client = manager.store.sync._redis()  # type: ignore[attr-defined]
            name = lua.session_key(manager.store.sync.prefix, store_key(victim).hex())  # type: ignore[attr-defined]
            original = client.hgetall(name)
            ttl = client.pttl(name)

            fields = st.sampled_from(
                [
                    "x",
                    "d:user",
                    "d:secret",
                    "m:created_at",
                    "m:issued_at",
                    "m:user_id",
                    "m:last_seen",
                    "m:idle_timeout",
                    "u",
                    "a",
                ]
            )

            @FUZZ
            @given(
                how=st.sampled_from(["field", "field", "drop", "type"]), field=fields, value=garbage_text()
            )
            def check(how: str, field: str, value: str) -> None:
                if how == "field":
                    client.hset(name, field, value)
                elif how == "drop":
                    client.hdel(name, field)
                else:
                    client.delete(name)
                    client.set(name, value)

                def restore() -> None:
                    client.delete(name)
                    client.hset(name, mapping=original)
                    client.pexpire(name, ttl)

                check_stored_garbage(app, kind, victim, attacker, None, restore)

            SEEN.clear()
            with caplog.at_level(logging.CRITICAL, logger="sessionary"):
                check()
            assert {200, 503} == SEEN
        finally:
            app.close()


@pytest.mark.postgres
@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_garbage_in_postgres_rows_is_never_a_500(kind: str, caplog: pytest.LogCaptureFixture) -> None:
    import psycopg
    from psycopg.types.json import Jsonb

    from conformance.stores_postgres import postgres_store
    from support.services import POSTGRES_URL

    with postgres_store(Path(".")) as store:
        app = App(SessionManager(store))
        try:
            manager = app.manager
            victim, attacker = make_session(manager, "victim"), make_session(manager, "attacker")
            table = manager.store.sync.settings.tables.sessions  # type: ignore[attr-defined]
            key = store_key(victim)
            connection = psycopg.connect(POSTGRES_URL, autocommit=True)
            original = connection.execute(f"SELECT data, meta FROM {table} WHERE key = %s", (key,)).fetchone()
            assert original is not None

            @FUZZ
            @given(
                column=st.sampled_from(["data", "meta", "meta-field"]),
                value=JSON,
                field=st.sampled_from(
                    ["created_at", "issued_at", "saved_deadline", "user_id", "absolute_timeout"]
                ),
            )
            def check(column: str, value: Any, field: str) -> None:
                assume("\\u0000" not in json.dumps(value))  # PostgreSQL refuses NUL in JSONB itself
                if column == "meta-field":
                    connection.execute(
                        f"UPDATE {table} SET meta = jsonb_set(meta, %s, %s) WHERE key = %s",
                        ([field], Jsonb(value), key),
                    )
                else:
                    connection.execute(
                        f"UPDATE {table} SET {column} = %s WHERE key = %s", (Jsonb(value), key)
                    )

                def restore() -> None:
                    connection.execute(
                        f"UPDATE {table} SET data = %s, meta = %s WHERE key = %s",
                        (Jsonb(original[0]), Jsonb(original[1]), key),
                    )

                check_stored_garbage(app, kind, victim, attacker, None, restore)

            SEEN.clear()
            with caplog.at_level(logging.CRITICAL, logger="sessionary"):
                check()
            assert {200, 503} == SEEN
            connection.close()
        finally:
            app.close()


# --- metadata read back from a store -----------------------------------------------------

_META_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
)


@settings(max_examples=400, deadline=None)
@given(st.fixed_dictionaries({}, optional=dict.fromkeys(META_FIELDS, _META_VALUES)))
def test_metadata_is_checked_the_same_on_the_inline_and_the_field_by_field_path(
    values: dict[str, Any],
) -> None:
    """``Meta.from_dict`` checks a sound record inline and anything else field by field;
    both accept exactly the same metadata, and refuse the rest as StoreCorrupted."""
    sound = all(_is_a(values.get(name), _META_TYPES[name]) for name in META_FIELDS)
    if sound:
        meta = Meta.from_dict(values)
        assert [getattr(meta, name) for name in META_FIELDS] == [values.get(name) for name in META_FIELDS]
    else:
        with pytest.raises(StoreCorrupted):
            Meta.from_dict(values)
