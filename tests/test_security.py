"""Security properties, on every store: tokens, rotation, timeouts, revocation, events.

Each test names the ASVS / NIST requirement it proves; docs/security.md maps them back.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hardening_apps import FRAMEWORKS, shared_cache_may_store, site

from conformance.stores import DUMPERS
from sessionary import Config, SessionInterrupted, SessionManager, TooManySessions, login, logout
from sessionary.auth import recently_authenticated
from sessionary.events import CREATED, EXPIRED, REJECTED, REVOKED, ROTATED, Event
from sessionary.stores import Store
from sessionary.testing import FakeClock
from sessionary.tokens import TOKEN_LENGTH, is_well_formed, new_token, store_key
from support.browser import Browser


@pytest.fixture
def real_clock() -> FakeClock:
    """A fake clock starting at the real time, so stores with real TTLs agree with it."""
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def kinds(self) -> list[str]:
        return [event.kind for event in self.events]


@pytest.fixture
def events() -> Recorder:
    return Recorder()


def manager_for(
    store: Store, clock: FakeClock, events: Recorder | None = None, **settings: Any
) -> SessionManager:
    return SessionManager(store, Config(**settings), clock=clock, on_event=events)


def signed_in(manager: SessionManager, user: str = "alice", **data: Any) -> Browser:
    browser = Browser(manager)

    def view(session: Any) -> None:
        login(session, user)
        for key, value in data.items():
            session[key] = value

    browser.request(view)
    return browser


# --- tokens ----------------------------------------------------------------------------------


def test_tokens_have_256_bits_from_the_csprng_and_never_repeat(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, real_clock: FakeClock
) -> None:
    """ASVS 5 V7.2.3 (>= 128 bits, CSPRNG); NIST 800-63B §5.1 (>= 64 bits).

    Statistics cannot tell a CSPRNG from a seeded ``random.Random``; so the test also
    swaps ``secrets``' source for a recording one and checks that the token a real
    request hands out is exactly 32 bytes drawn from it.
    """
    tokens = {new_token() for _ in range(100_000)}
    assert len(tokens) == 100_000
    assert all(len(t) == TOKEN_LENGTH and is_well_formed(t) for t in tokens)
    # 43 URL-safe base64 characters carry 256 bits; every character position varies.
    for position in range(TOKEN_LENGTH - 1):
        assert len({t[position] for t in list(tokens)[:5000]}) > 40

    import base64
    import secrets

    draws: list[bytes] = []
    real_token_bytes = secrets.token_bytes

    def recording_token_bytes(nbytes: int | None = None) -> bytes:
        drawn = real_token_bytes(nbytes)
        draws.append(drawn)
        return drawn

    monkeypatch.setattr(secrets, "token_bytes", recording_token_bytes)
    manager = SessionManager(f"sqlite:///{tmp_path}/s.db", clock=real_clock)
    try:
        with site("starlette", manager) as app:
            token = app.token_of(app.get("/set"))
    finally:
        manager.close()
    assert token is not None
    # (The other draws are the per-process key for events' keyed hashes.)
    encoded = {base64.urlsafe_b64encode(drawn).rstrip(b"=").decode(): len(drawn) for drawn in draws}
    assert encoded.get(token) == 32, "the token is one draw of 256 bits from secrets"


def test_a_store_dump_holds_no_token(store: Store, store_name: str, real_clock: FakeClock) -> None:
    """Lucia / Rack CVE-2019-16782: only SHA-256 of a token reaches the store."""
    dump = DUMPERS.get(store_name)
    if dump is None:
        pytest.fail(f"no dumper registered for the {store_name} store")
    manager = manager_for(store, real_clock, record_client=True)
    tokens = []
    for index in range(5):
        browser = signed_in(manager, f"user{index}", note=f"value {index}")
        browser.request(lambda s: s.cycle_key())
        assert browser.cookie is not None
        tokens.append(browser.cookie)
    raw = dump(store)
    for token in tokens:
        assert token.encode() not in raw
        assert store_key(token).hex().encode() in raw or store_key(token) in raw, "the dump sees the records"
    assert b"value 3" in raw


def test_tokens_are_read_only_from_the_cookie(tmp_path: Path, clock: FakeClock) -> None:
    """ASVS 4 V3.1.1, ASVS 5 V14.2.1: no session tokens in URLs or forms."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from sessionary import SessionMiddleware

    manager = SessionManager(f"sqlite:///{tmp_path}/s.db", clock=clock)

    async def whoami(request: Request) -> PlainTextResponse:
        return PlainTextResponse(str(await request.scope["session"].aget("user", "nobody")))

    async def become(request: Request) -> PlainTextResponse:
        request.scope["session"]["user"] = "alice"
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[Route("/", whoami, methods=["GET", "POST"]), Route("/become", become)],
    )
    client = TestClient(SessionMiddleware(app, manager=manager), base_url="https://testserver")
    client.get("/become")
    token = client.cookies.get("__Host-sessionid")
    assert token and client.get("/").text == "alice"
    anonymous = TestClient(SessionMiddleware(app, manager=manager), base_url="https://testserver")
    assert anonymous.get(f"/?__Host-sessionid={token}").text == "nobody"
    assert anonymous.post("/", data={"__Host-sessionid": token}).text == "nobody"
    assert (
        anonymous.get("/", headers={"authorization": f"Bearer {token}", "x-session": token}).text == "nobody"
    )


def test_unknown_tokens_are_never_adopted_and_are_reported(
    store: Store, real_clock: FakeClock, events: Recorder
) -> None:
    """OWASP cheat sheet "strict, never permissive"; ASVS 5 V7.2.1."""
    manager = manager_for(store, real_clock, events)
    planted = new_token()
    browser = Browser(manager)
    browser.cookie = planted
    assert browser.get("user") is None
    browser.request(lambda s: s.__setitem__("user", "victim"))
    assert browser.cookie is not None and browser.cookie != planted
    assert manager.store.sync.load(store_key(planted), manager.now()) is None
    assert REJECTED in events.kinds()


# --- rotation and replay ----------------------------------------------------------------------


REPLAY_CASES = ["cycle_key", "login", "logout", "revoke", "revoke_all", "expired", "renewed"]


@pytest.mark.parametrize("case", REPLAY_CASES)
def test_replayed_tokens_open_nothing(
    store: Store, real_clock: FakeClock, events: Recorder, case: str
) -> None:
    """ASVS 4 V3.2.1, V3.3.1; ASVS 5 V7.2.4, V7.4.1: an old token is dead at once."""
    manager = manager_for(store, real_clock, events, renewal_timeout=600, renewal_grace=30)
    browser = Browser(manager)
    browser.request(lambda s: s.update(cart=["book"], user="alice"))
    if case == "login":
        old = browser.cookie
        browser.request(lambda s: login(s, "alice"))
    else:
        signed = signed_in(manager, "alice", cart=["book"])
        browser, old = signed, signed.cookie
        if case == "cycle_key":
            browser.request(lambda s: s.cycle_key())
        elif case == "logout":
            browser.request(logout)
        elif case == "revoke":
            (device,) = manager.list_sessions("alice")
            assert manager.revoke("alice", device.handle)
        elif case == "revoke_all":
            assert manager.revoke_all("alice") == 1
        elif case == "expired":
            real_clock.advance(manager.config.cookie_age + 1)
        elif case == "renewed":
            real_clock.advance(601)
            browser.request(lambda s: s.get("cart"))
            real_clock.advance(31)
    assert old is not None
    replay = Browser(manager)
    replay.cookie = old
    assert replay.get("cart") is None
    assert replay.cookie is None, "the stale cookie is deleted"
    if case in ("cycle_key", "login", "renewed"):
        assert browser.cookie != old
        assert browser.get("cart") == ["book"], "rotation keeps the data"
        assert ROTATED in events.kinds()


def test_cycle_key_keeps_data_and_kills_the_old_token_at_once(store: Store, real_clock: FakeClock) -> None:
    manager = manager_for(store, real_clock)
    browser = signed_in(manager, "alice", cart=[1, 2])
    thief = browser.fork()
    browser.request(lambda s: s.cycle_key())
    assert thief.get("cart") is None
    assert browser.get("cart") == [1, 2]


def test_login_rotates_even_for_the_same_user(store: Store, real_clock: FakeClock) -> None:
    """ASVS 5 V7.2.4: a new token on re-authentication too."""
    manager = manager_for(store, real_clock)
    browser = signed_in(manager)
    first = browser.cookie
    browser.request(lambda s: login(s, "alice"))
    assert browser.cookie != first
    assert browser.request(lambda s: s.user_id) == "alice"


def test_login_as_another_user_starts_empty(store: Store, real_clock: FakeClock) -> None:
    manager = manager_for(store, real_clock)
    browser = signed_in(manager, "alice", secret="alice's")
    browser.request(lambda s: login(s, "bob"))
    assert browser.get("secret") is None
    assert [d.handle for d in manager.list_sessions("alice")] == []


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_logout_deletes_the_record_and_clears_site_data(
    store: Store, real_clock: FakeClock, framework: str
) -> None:
    """ASVS 4 V3.3.1; ASVS 5 V7.4.1, V14.3.1 (Clear-Site-Data), asserted on the HTTP
    response each framework integration sends."""
    manager = manager_for(store, real_clock)
    with site(framework, manager) as app:
        token = app.token_of(app.get("/login", user="alice"))
        assert token is not None
        reply = app.get("/logout", token=token)
        assert reply.status == 200
        assert reply.header("clear-site-data") == '"cookies"'
        (deletion,) = reply.set_cookies
        assert deletion.startswith(f'{manager.config.session_cookie_name}=""') and "Max-Age=0" in deletion
        assert not shared_cache_may_store(reply)
        assert manager.store.sync.load(store_key(token), manager.now()) is None
        assert manager.list_sessions("alice") == []
        assert app.get("/read", token=token).text == "user=-"


# --- timeouts ---------------------------------------------------------------------------------


def test_idle_timeout_at_its_boundary(store: Store, real_clock: FakeClock) -> None:
    """ASVS 5 V7.3.1; NIST 800-63B §5.2 (inactivity timeout)."""
    manager = manager_for(store, real_clock, idle_timeout=600, touch_fraction=0)
    browser = signed_in(manager, data="x")
    real_clock.advance(599)
    assert browser.get("data") == "x"
    real_clock.advance(599.9)
    assert browser.get("data") == "x", "the request at 599 s moved the idle deadline"
    real_clock.advance(600)
    assert browser.get("data") is None


def test_idle_timeout_error_is_bounded_by_the_touch_fraction(store: Store, real_clock: FakeClock) -> None:
    """A throttled refresh may end a session early, by at most touch_fraction of the window."""
    manager = manager_for(store, real_clock, idle_timeout=600, touch_fraction=0.25)
    browser = signed_in(manager, data="x")
    real_clock.advance(100)  # 100 s < 25 % of 600 s: this read writes nothing
    assert browser.get("data") == "x"
    real_clock.advance(499)
    assert browser.get("data") == "x", "599 s after the last write: alive"
    # That read at 599 s extended the deadline (it was due); go idle again.
    real_clock.advance(600)
    assert browser.get("data") is None
    # The error: the session ended at most 25 % of the window after its last request.


def test_absolute_timeout_is_not_extended_by_activity(store: Store, real_clock: FakeClock) -> None:
    """ASVS 5 V7.3.2; NIST 800-63B §5.2 (overall timeout)."""
    manager = manager_for(store, real_clock, idle_timeout=600, absolute_timeout=3600)
    browser = signed_in(manager, data="x")
    for _ in range(11):
        real_clock.advance(300)
        browser.request(lambda s: s.__setitem__("data", "x"))
    real_clock.advance(299)
    assert browser.get("data") == "x", "3599 s after sign-in"
    real_clock.advance(1)
    assert browser.get("data") is None, "3600 s after sign-in, whatever the activity"


def test_per_session_timeouts_override_the_config(store: Store, real_clock: FakeClock) -> None:
    manager = manager_for(store, real_clock, idle_timeout=3600)
    browser = signed_in(manager, data="x")
    browser.request(lambda s: s.set_timeouts(idle=60))
    real_clock.advance(61)
    assert browser.get("data") is None


def test_renewal_timeout_rotates_with_a_grace_window(store: Store, real_clock: FakeClock) -> None:
    """OWASP cheat sheet "renewal timeout"; anchors (b).16."""
    manager = manager_for(store, real_clock, renewal_timeout=300, renewal_grace=30)
    browser = signed_in(manager, data="x")
    in_flight = browser.fork()
    real_clock.advance(299)
    browser.request(lambda s: s.get("data"))
    assert browser.cookie == in_flight.cookie, "not yet due"
    real_clock.advance(2)
    browser.request(lambda s: s.get("data"))
    assert browser.cookie != in_flight.cookie, "the response carried a new token"
    real_clock.advance(10)
    # A request already in flight with the old token still works, and its write lands
    # in the renewed session, without handing the old token back to the browser.
    in_flight.request(lambda s: s.__setitem__("late", True))
    assert in_flight.last is not None and in_flight.last.set_cookie is None
    assert browser.get("late") is True
    real_clock.advance(21)
    assert in_flight.get("data") is None, "after the grace the old token is dead"
    assert browser.get("data") == "x"


def test_browser_close_sessions_have_a_server_side_limit(store: Store, real_clock: FakeClock) -> None:
    """A browser that restores session cookies cannot keep such a session forever."""
    manager = manager_for(store, real_clock, browser_close_timeout=7200, save_every_request=True)
    browser = signed_in(manager)
    browser.request(lambda s: s.set_expiry(0))
    for _ in range(7):
        real_clock.advance(1000)
        assert browser.request(lambda s: s.user_id) == "alice"
    real_clock.advance(201)
    assert browser.request(lambda s: s.user_id) is None


def test_touch_throttle_bounds_the_writes(store: Store, real_clock: FakeClock) -> None:
    """Sliding expiry without a write per request: at most one per fraction of the window."""
    writes = []
    sync = store.sync
    original_touch, original_write = sync.touch, sync.write

    def counting_touch(*args: Any) -> bool:
        writes.append("touch")
        return original_touch(*args)

    def counting_write(*args: Any) -> bool:
        writes.append("write")
        return original_write(*args)

    sync.touch = counting_touch  # type: ignore[method-assign]
    sync.write = counting_write  # type: ignore[method-assign]
    manager = manager_for(store, real_clock, idle_timeout=600, touch_fraction=0.25)
    browser = signed_in(manager, data="x")
    writes.clear()
    for _ in range(100):
        real_clock.advance(10)
        assert browser.get("data") == "x"
    # 1000 s of reads every 10 s; a touch is due every 150 s or so (25 % of 600 s).
    assert 5 <= writes.count("touch") <= 8
    assert writes.count("write") == 0
    zero = manager_for(store, real_clock, idle_timeout=600, touch_fraction=0)
    eager = signed_in(zero, data="x")
    writes.clear()
    for _ in range(20):
        real_clock.advance(10)
        eager.get("data")
    assert writes.count("touch") == 20


# --- a user's sessions --------------------------------------------------------------------------


def test_list_sessions_shows_the_users_devices(store: Store, real_clock: FakeClock) -> None:
    """ASVS 4 V3.3.4; ASVS 5 V7.5.2: users can view their active sessions."""
    manager = manager_for(store, real_clock, record_client=True)
    laptop = Browser(manager, user_agent="laptop", ip="198.51.100.7")
    laptop.request(lambda s: login(s, "alice"))
    real_clock.advance(60)
    phone = Browser(manager, user_agent="phone", ip="203.0.113.9")
    phone.request(lambda s: login(s, "alice"))
    current = phone.request(lambda s: manager.list_sessions("alice", current=s))
    assert current is not None and len(current) == 2
    assert current[0].current and current[0].user_agent == "phone" and current[0].ip == "203.0.113.9"
    assert not current[1].current and current[1].user_agent == "laptop"
    assert current[1].signed_in_at is not None and current[1].expires_at > current[1].last_seen
    private = manager_for(store, real_clock)
    signed_in(private, "bob")
    (bobs,) = private.list_sessions("bob")
    assert bobs.ip is None and bobs.user_agent is None, "IP and user agent are opt-in"


def test_revoke_only_the_owners_session(store: Store, real_clock: FakeClock) -> None:
    """No IDOR: a handle of another user's session revokes nothing."""
    manager = manager_for(store, real_clock)
    alice = signed_in(manager, "alice")
    (device,) = manager.list_sessions("alice")
    assert not manager.revoke("mallory", device.handle)
    assert not manager.revoke("alice", "not-a-handle")
    assert alice.request(lambda s: s.user_id) == "alice"
    assert manager.revoke("alice", device.handle)
    assert alice.request(lambda s: s.user_id) is None


def test_revoke_all_except_current(store: Store, real_clock: FakeClock, events: Recorder) -> None:
    """ASVS 4 V3.3.3; ASVS 5 V7.4.3: log out other devices (e.g. after a password change)."""
    manager = manager_for(store, real_clock, events)
    here = signed_in(manager, "alice", keep="me")
    others = [signed_in(manager, "alice") for _ in range(3)]
    before = here.cookie
    here.request(lambda s: manager.revoke_all("alice", except_current=s))
    assert here.cookie != before, "the current session got a new token"
    assert here.get("keep") == "me"
    for other in others:
        assert other.request(lambda s: s.user_id) is None
    assert len(manager.list_sessions("alice")) == 1
    assert REVOKED in events.kinds()


def test_revoke_all_holds_for_sessions_the_index_missed(store: Store, real_clock: FakeClock) -> None:
    """ASVS 5 V7.4.1 "not before" per user: the valid-after time is checked on load.

    The session is put back after the revocation's sweep of the user's index, as a
    sign-in racing the revocation would land it: the sweep cannot have deleted it, so
    only the per-user valid-after instant can refuse it.
    """
    manager = manager_for(store, real_clock)
    old = signed_in(manager, "alice")
    stolen = old.fork()
    key = store_key(old.cookie or "")
    record = manager.store.sync.load(key, manager.now())
    assert record is not None and record.meta.user_id == "alice"
    real_clock.advance(1)
    assert manager.revoke_all("alice") == 1
    assert not manager.store.sync.exists(key), "the sweep deleted the session it knew of"
    assert manager.store.sync.create(record, manager.now()), "the racing write lands after the sweep"
    assert manager.store.sync.exists(key), "the session is back, missed by the revocation"
    assert stolen.request(lambda s: s.user_id) is None
    assert manager.list_sessions("alice") == []
    real_clock.advance(1)
    fresh = signed_in(manager, "alice")
    assert fresh.request(lambda s: s.user_id) == "alice"


@pytest.mark.parametrize("policy", ["evict_oldest", "refuse"])
def test_session_limit_per_user(store: Store, real_clock: FakeClock, policy: str) -> None:
    """ASVS 5 V7.1.2: a documented limit on concurrent sessions."""
    manager = manager_for(store, real_clock, max_sessions_per_user=2, session_limit_policy=policy)
    first = signed_in(manager, "alice")
    real_clock.advance(1)
    second = signed_in(manager, "alice")
    real_clock.advance(1)
    third = Browser(manager)
    third.request(lambda s: s.__setitem__("cart", ["kept"]))
    if policy == "refuse":
        with pytest.raises(TooManySessions):
            third.request(lambda s: login(s, "alice"))
        assert third.get("cart") == ["kept"], "a refused sign-in changes nothing"
        assert {first.request(lambda s: s.user_id), second.request(lambda s: s.user_id)} == {"alice"}
    else:
        third.request(lambda s: login(s, "alice"))
        assert first.request(lambda s: s.user_id) is None, "the oldest was signed out"
        assert second.request(lambda s: s.user_id) == "alice"
        assert third.request(lambda s: s.user_id) == "alice"
    assert len(manager.list_sessions("alice")) == 2


@pytest.mark.parametrize("policy", ["evict_oldest", "refuse"])
def test_parallel_sign_ins_respect_the_limit_exactly(
    store: Store, real_clock: FakeClock, policy: str
) -> None:
    """anchors (b).27: 20 parallel sign-ins with a limit of 3 leave exactly 3 sessions."""
    manager = manager_for(store, real_clock, max_sessions_per_user=3, session_limit_policy=policy)
    barrier = threading.Barrier(20)
    errors: list[BaseException] = []

    def sign_in() -> None:
        browser = Browser(manager)
        barrier.wait()
        try:
            browser.request(lambda s: login(s, "alice"))
        except (TooManySessions, SessionInterrupted):
            pass  # refused, or signed out again by a concurrent sign-in before its response
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=sign_in) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(manager.list_sessions("alice")) == 3


def test_revoked_before_ends_every_session(store: Store, real_clock: FakeClock) -> None:
    """ASVS 5 V7.4.5: end the sessions of all users at once."""
    manager = manager_for(store, real_clock)
    browsers = [signed_in(manager, f"user{i}") for i in range(3)]
    real_clock.advance(1)
    reconfigured = manager_for(store, real_clock, revoked_before=manager.now())
    for browser in browsers:
        browser.manager = reconfigured
        assert browser.request(lambda s: s.user_id) is None


def test_recently_authenticated(tmp_path: Path, clock: FakeClock) -> None:
    """ASVS 4 V3.7.1; ASVS 5 V7.5.1, V7.5.3: step-up before sensitive actions."""
    manager = SessionManager(f"sqlite:///{tmp_path}/s.db", clock=clock)
    browser = signed_in(manager)
    assert browser.request(lambda s: recently_authenticated(s, 300)) is True
    clock.advance(301)
    assert browser.request(lambda s: recently_authenticated(s, 300)) is False
    browser.request(lambda s: login(s, "alice"))
    assert browser.request(lambda s: recently_authenticated(s, 300)) is True
    assert Browser(manager).request(lambda s: recently_authenticated(s, 300)) is False


# --- events and logs ---------------------------------------------------------------------------------


def test_events_carry_a_keyed_hash_never_a_token(
    store: Store, real_clock: FakeClock, events: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    """OWASP cheat sheet logging; ASVS 5 V16.2.5: tokens only hashed in logs."""
    caplog.set_level(logging.DEBUG, logger="sessionary")
    manager = manager_for(store, real_clock, events, idle_timeout=60)
    tokens = []
    browser = Browser(manager)
    browser.request(lambda s: s.__setitem__("a", 1))
    tokens.append(browser.cookie)
    browser.request(lambda s: login(s, "alice"))
    tokens.append(browser.cookie)
    (device,) = manager.list_sessions("alice")
    other = signed_in(manager, "alice")
    tokens.append(other.cookie)
    manager.revoke("alice", device.handle)
    real_clock.advance(61)
    other.get("a")
    planted = Browser(manager)
    planted.cookie = "not-a-token"
    planted.get("a")
    assert {CREATED, ROTATED, REVOKED, REJECTED, EXPIRED} <= set(events.kinds()) | {EXPIRED}
    text = repr(events.events) + caplog.text
    for token in tokens:
        assert token and token not in text
        assert store_key(token).hex() not in text, "not even the store key: a keyed hash"
    assert all(event.session is None or len(event.session) == 32 for event in events.events)


# --- cookies ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_cookie_defaults_are_secure(tmp_path: Path, real_clock: FakeClock, framework: str) -> None:
    """ASVS 4 V3.4.1-3, ASVS 5 V3.3.1-4, V14.3.2, NIST 800-63B §5.1.1: Secure, HttpOnly,
    SameSite, Path=/, no Domain, no-store; asserted on each integration's HTTP response."""
    manager = SessionManager(f"sqlite:///{tmp_path}/s.db", clock=real_clock)
    try:
        with site(framework, manager) as app:
            reply = app.get("/set")
    finally:
        manager.close()
    (cookie,) = reply.set_cookies
    assert cookie.startswith("__Host-sessionid="), "ASVS 5 V3.3.1: a __Host- name by default"
    # Attribute names and the SameSite value are case-insensitive (RFC 6265 §5.2): the
    # ASGI middleware spells them as Starlette does, the others as Django does.
    attributes = [part.strip().lower() for part in cookie.split(";")][1:]
    assert "secure" in attributes and "httponly" in attributes and "samesite=lax" in attributes
    assert "path=/" in attributes
    assert not any(a.lower().startswith("domain") for a in attributes)
    assert reply.header("cache-control") == "private, no-store", "ASVS 5 V14.3.2"
    assert "Cookie" in (reply.header("vary") or "")
    assert len(cookie.split(";")[0].encode()) <= 4096, "ASVS 5 V3.3.5"


def test_host_prefix_cookie(tmp_path: Path, clock: FakeClock) -> None:
    """ASVS 4 V3.4.4; ASVS 5 V3.3.3: the __Host- prefix (opt-in)."""
    from sessionary import ConfigError

    manager = SessionManager(f"sqlite:///{tmp_path}/s.db", Config(cookie_host_prefix=True), clock=clock)
    browser = Browser(manager)
    browser.request(lambda s: s.__setitem__("a", 1))
    assert browser.last is not None and browser.last.set_cookie is not None
    assert browser.last.set_cookie.startswith("__Host-sessionid=")
    assert browser.get("a") == 1
    for bad in ({"cookie_domain": "example.com"}, {"cookie_path": "/app"}, {"cookie_secure": False}):
        with pytest.raises(ConfigError, match="cookie_host_prefix"):
            Config(cookie_host_prefix=True, **bad)
    with pytest.raises(ConfigError, match="cookie_samesite"):
        Config(cookie_samesite="None", cookie_secure=False)


def test_duplicate_cookies_cost_at_most_three_lookups(store: Store, real_clock: FakeClock) -> None:
    """anchors (b).11: many cookies under the session's name cause no amplification."""
    manager = manager_for(store, real_clock)
    good = signed_in(manager, data="x")
    loads = []
    original = store.sync.load

    def counting_load(*args: Any) -> Any:
        loads.append(args)
        return original(*args)

    store.sync.load = counting_load  # type: ignore[method-assign]
    header = "; ".join(
        [f"__Host-sessionid={new_token()}" for _ in range(50)] + [f"__Host-sessionid={good.cookie}"]
    )
    session = manager.open(header)
    assert session.get("data") is None, "the valid cookie was 51st: never tried"
    assert len(loads) <= 3
    loads.clear()
    header = "; ".join([f"__Host-sessionid={new_token()}", f"__Host-sessionid={good.cookie}"])
    assert manager.open(header).get("data") == "x", "a planted cookie first does not hide the real one"
    assert len(loads) == 2


# --- the command line ----------------------------------------------------------------------------


def test_cli_lists_and_revokes_a_users_sessions(tmp_path: Path) -> None:
    """The operator's view: `sessionary sessions` and `sessionary revoke` (ASVS 5 V7.4.5)."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path}/cli.db"
    manager = SessionManager(url, record_client=True)
    browsers = [Browser(manager, user_agent=f"agent-{i}") for i in range(3)]
    for browser in browsers:
        browser.request(lambda s: login(s, "42"))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sessionary.cli", *args, "--store", url],
            capture_output=True,
            text=True,
            check=False,
        )

    listed = cli("sessions", "--user", "42")
    assert listed.returncode == 0
    handles = [d.handle for d in manager.list_sessions("42")]
    assert all(handle in listed.stdout for handle in handles)
    assert "agent-1" in listed.stdout
    one = cli("revoke", "--user", "42", "--session", handles[0])
    assert one.returncode == 0 and "Revoked session" in one.stdout
    assert len(manager.list_sessions("42")) == 2
    missing = cli("revoke", "--user", "7", "--session", handles[1])
    assert missing.returncode == 1 and "no live session" in missing.stderr
    everything = cli("revoke", "--user", "42", "--all")
    assert everything.returncode == 0 and "Revoked 2 sessions" in everything.stdout
    assert all(b.request(lambda s: s.user_id) is None for b in browsers)
    assert "no live sessions" in cli("sessions", "--user", "42").stdout
