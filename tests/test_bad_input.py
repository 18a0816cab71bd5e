"""Bad input from the browser and from the app, and what it must never cost.

* A malformed session cookie is treated as no session: no store query is made for it
  (the store's calls are recorded to prove it), the response deletes it, and a
  ``rejected`` event is emitted.
* A value that cannot be stored raises :class:`SessionValueError` naming the key when
  the session is saved, and nothing already stored is lost.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sessionary import Event, SessionManager, SessionValueError
from sessionary.testing import FakeClock
from sessionary.tokens import new_token, store_key
from support.http_apps import KINDS, Browser, Unstorable, cookie_value
from support.spies import RecordingSQLite, recording_store

DELETED = (
    '__Host-sessionid=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; SameSite=Lax; Secure'
)
TOKEN = new_token()

MALFORMED: dict[str, str | bytes] = {
    "empty": "__Host-sessionid=",
    "too-short": f"__Host-sessionid={TOKEN[:-1]}",
    "too-long": f"__Host-sessionid={TOKEN}A",
    "django-length": "__Host-sessionid=" + "a" * 32,
    "tiny": "__Host-sessionid=abc",
    "bad-characters": "__Host-sessionid=" + "!" * 43,
    "base64-padding": f"__Host-sessionid={TOKEN[:42]}=",
    "base64-plus-slash": f"__Host-sessionid={TOKEN[:41]}+/",
    "dot": f"__Host-sessionid={TOKEN[:42]}.",
    "non-ascii": ("__Host-sessionid=" + TOKEN[:42] + "é").encode("utf-8"),
    "non-ascii-only": ("__Host-sessionid=" + "é" * 43).encode("utf-8"),
    "10kB": "__Host-sessionid=" + "a" * 10240,
    "10kB-token-alphabet": "__Host-sessionid=" + TOKEN * 240,
    "quoted-bad": '__Host-sessionid="abc"',
    "lone-quote": '__Host-sessionid="',
    "empty-quotes": '__Host-sessionid=""',
    "unbalanced-quote": f'__Host-sessionid="{TOKEN}',
    "inner-space": f"__Host-sessionid={TOKEN[:20]} {TOKEN[21:]}",
    "many-duplicates": "; ".join(f"__Host-sessionid=bad{i}" for i in range(200)),
}


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


class Watched:
    def __init__(self, kind: str, path: Path, clock: FakeClock, **settings: object) -> None:
        store, self.backend = recording_store(path)
        self.events: list[Event] = []
        self.manager = SessionManager(store, clock=clock, on_event=self.events.append, **settings)
        self.browser = Browser(kind, self.manager)


@pytest.fixture
def watched(kind: str, tmp_path: Path, clock: FakeClock) -> Iterator[Callable[..., Watched]]:
    made: list[Watched] = []

    def build(**settings: object) -> Watched:
        made.append(Watched(kind, tmp_path / "sessions.db", clock, **settings))
        return made[-1]

    yield build
    for each in made:
        each.manager.close()


# --- malformed cookies -------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/read", "/untouched", "/set"])
@pytest.mark.parametrize("header", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_cookie_is_no_session_and_costs_no_store_query(
    watched: Callable[..., Watched], header: str | bytes, path: str
) -> None:
    site = watched()
    reply = site.browser.get(path, cookie=header)
    assert reply.status == 200
    if path == "/read":
        assert reply.text == "user=-"
    if path == "/set":
        # A new session under a new token; the malformed value is not reused.
        (set_cookie,) = reply.set_cookies
        assert cookie_value(set_cookie) not in (header if isinstance(header, str) else "")
        assert site.backend.calls == ["create"]
    else:
        assert reply.set_cookies == [DELETED]
        assert reply.header("vary") == "Cookie"
        assert site.backend.calls == []
    rejected = [event for event in site.events if event.kind == "rejected"]
    assert len(rejected) == 1
    assert rejected[0].session is None
    assert rejected[0].reason == "malformed session cookie"


def test_quoted_well_formed_token_is_unquoted_like_django(watched: Callable[..., Watched]) -> None:
    site = watched()
    token = cookie_value(site.browser.get("/set", cookie=None).set_cookies[0])
    reply = site.browser.get("/read", cookie=f'__Host-sessionid="{token}"')
    assert reply.text == "user=Alice"
    assert [event.kind for event in site.events] == ["created"]


def test_many_unknown_well_formed_duplicates_cost_at_most_three_lookups(
    watched: Callable[..., Watched],
) -> None:
    site = watched()
    header = "; ".join(f"__Host-sessionid={new_token()}" for _ in range(100))
    reply = site.browser.get("/read", cookie=header)
    assert (reply.text, reply.set_cookies) == ("user=-", [DELETED])
    assert site.backend.calls == ["load"] * 3


def test_other_cookies_malformed_or_not_are_ignored(watched: Callable[..., Watched]) -> None:
    site = watched()
    token = cookie_value(site.browser.get("/set", cookie=None).set_cookies[0])
    site.backend.calls.clear()
    header = f'junk; =; a="b; csrftoken=x" ; sessionidx=1; __Host-sessionid={token}; é=ü'
    reply = site.browser.get("/read", cookie=header.encode("utf-8"))
    assert reply.text == "user=Alice"
    assert reply.set_cookies == []
    assert site.backend.calls == ["load"]


# --- values that cannot be stored ------------------------------------------------------------------

BAD_KINDS = ["set", "object", "nan", "big"]


@pytest.mark.parametrize("bad", BAD_KINDS)
def test_unstorable_value_fails_the_save_naming_the_key_and_loses_nothing(
    watched: Callable[..., Watched], bad: str
) -> None:
    site = watched(max_value_bytes=1024)
    token = cookie_value(site.browser.get("/set", cookie=None).set_cookies[0])
    key = store_key(token)
    before = site.backend.load(key, site.manager.now())
    with pytest.raises(SessionValueError, match="'bad'") as raised:
        site.browser.get("/bad-value", cookie=f"__Host-sessionid={token}", kind=bad)
    assert raised.value.key == "bad"
    after = site.backend.load(key, site.manager.now())
    assert after == before
    assert after is not None and after.data == {"user": "Alice"}

    # A new session with such a value is not created at all.
    site.backend.calls.clear()
    with pytest.raises(SessionValueError, match="'bad'"):
        site.browser.get("/bad-value", cookie=None, kind=bad)
    assert "create" not in site.backend.calls


@pytest.mark.parametrize("bad", BAD_KINDS)
def test_unstorable_value_under_starlette_is_its_500_without_a_cookie(tmp_path: Path, bad: str) -> None:
    """Starlette's error middleware answers 500 for the error; the middleware adds no
    cookie to it and saves nothing. (Under WSGI the error goes to the server, which
    answers 500 itself.)"""
    manager = SessionManager(f"sqlite:///{tmp_path}/s.db", max_value_bytes=1024)
    browser = Browser("asgi", manager)
    browser.raise_server_exceptions = False
    try:
        token = cookie_value(browser.get("/set", cookie=None).set_cookies[0])
        reply = browser.get("/bad-value", cookie=f"__Host-sessionid={token}", kind=bad)
        assert (reply.status, reply.set_cookies) == (500, [])
        session = manager.open(f"__Host-sessionid={token}")
        assert dict(session.items()) == {"user": "Alice"}
    finally:
        manager.close()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({1, 2}, "type set cannot be stored as JSON"),
        (Unstorable(), "type Unstorable cannot be stored as JSON"),
        (math.nan, "type float cannot be stored as JSON"),
        (math.inf, "type float cannot be stored as JSON"),
        ({"nested": [1, {2, 3}]}, "type dict cannot be stored as JSON"),
        ("é" * 600, "1202 bytes as JSON, over the configured limit of 1024"),
        (b"bytes", "type bytes cannot be stored as JSON"),
    ],
)
def test_session_save_names_the_key_before_writing_anything(
    tmp_path: Path, clock: FakeClock, value: object, message: str
) -> None:
    manager = SessionManager(f"sqlite:///{tmp_path}/s.db", clock=clock, max_value_bytes=1024)
    try:
        first = manager.open(None)
        first["kept"] = [1, 2]
        first.save()
        token = first.session_key
        assert token is not None

        session = manager.open(f"__Host-sessionid={token}")
        session["added"] = "fine on its own"
        del session["kept"]
        session["broken"] = value
        with pytest.raises(SessionValueError, match=f"'broken'.*{message}"):
            session.save()
        reloaded = manager.open(f"__Host-sessionid={token}")
        assert dict(reloaded.items()) == {"kept": [1, 2]}
    finally:
        manager.close()


@pytest.mark.anyio
async def test_async_save_names_the_key_too(tmp_path: Path, clock: FakeClock) -> None:
    manager = SessionManager(f"sqlite:///{tmp_path}/s.db", clock=clock)
    try:
        session = manager.open(None)
        await session.aset("bad", {1})
        with pytest.raises(SessionValueError, match="'bad'"):
            await session.asave()
        assert (await manager.astats()).live == 0
    finally:
        manager.close()


def test_non_string_keys_follow_jsons_rules(watched: Callable[..., Watched], tmp_path: Path) -> None:
    site = watched()
    token = cookie_value(site.browser.get("/int-key", cookie=None).set_cookies[0])
    assert site.browser.get("/keys", cookie=f"__Host-sessionid={token}").text == "1"

    session = site.manager.open(f"__Host-sessionid={token}")
    assert session["1"] == "one"
    assert 1 not in session
    session[2.5] = "float"  # type: ignore[index]
    session[None] = "none"  # type: ignore[index]
    session[True] = "bool"  # type: ignore[index]
    session.save()
    reloaded = site.manager.open(f"__Host-sessionid={token}")
    assert dict(reloaded.items()) == {"1": "one", "2.5": "float", "null": "none", "true": "bool"}

    session = site.manager.open(f"__Host-sessionid={token}")
    session[(1, 2)] = "tuple"  # type: ignore[index]
    with pytest.raises(SessionValueError, match=r"\(1, 2\).*keys must be strings"):
        session.save()


def test_spy_counts_every_contract_call(tmp_path: Path) -> None:
    """The recording store used above does see store calls (so an empty record means none)."""
    backend = RecordingSQLite(tmp_path / "spy.db")
    backend.exists(b"k" * 32)
    list(backend.clear_expired(0.0, 10))
    assert backend.calls == ["exists", "clear_expired"]
    backend.close()
