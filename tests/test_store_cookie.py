"""The signed-cookie store through SessionManager: what a cookie carries, and what it refuses."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import secrets
import zlib
from datetime import timedelta

import pytest
from itsdangerous import URLSafeSerializer

from sessionary import (
    ConfigError,
    CookieTooLarge,
    SessionManager,
    UnsupportedOperation,
    alogin,
    login,
    logout,
)
from sessionary.cli import main as cli
from sessionary.cookies import MAX_COOKIE_BYTES
from sessionary.lifecycle import Outcome
from sessionary.stores.cookie import SALT
from sessionary.testing import FakeClock

pytestmark = pytest.mark.anyio

KEY = "first-signing-key-0123456789"
OLD_KEY = "older-signing-key-0123456789"


def manager(clock: FakeClock, *keys: str, **settings: object) -> SessionManager:
    return SessionManager("cookie://", clock=clock, secret_keys=keys or (KEY,), **settings)


def value_of(outcome: Outcome) -> str:
    """The session cookie's value from a ``Set-Cookie`` that sets it."""
    assert outcome.set_cookie is not None
    first = outcome.set_cookie.split(";", 1)[0]
    name, _, value = first.partition("=")
    assert name == "__Host-sessionid" and value and value != '""', outcome.set_cookie
    return value


def deletes_cookie(outcome: Outcome) -> bool:
    return outcome.set_cookie is not None and "Max-Age=0" in outcome.set_cookie


def saved(manager: SessionManager, value: str | None = None, **data: object) -> str:
    """The cookie value after a request that stores ``data``."""
    session = manager.open(None if value is None else f"__Host-sessionid={value}")
    session.update(data)
    return value_of(manager.close_session(session, 200))


def read(manager: SessionManager, value: str) -> tuple[dict[str, object], Outcome]:
    session = manager.open(f"__Host-sessionid={value}")
    data = dict(session.items())
    return data, manager.close_session(session, 200)


# --- round trip ---------------------------------------------------------------------------


def test_the_session_travels_in_the_cookie(clock: FakeClock) -> None:
    sessions = manager(clock)
    data = {"cart": [1, 2, {"x": None}], "name": "Zoë", "n": 3.5, "flag": True}
    value = saved(sessions, **data)
    clock.advance(60)
    loaded, outcome = read(sessions, value)
    assert loaded == data
    assert outcome.set_cookie is None  # read only, nothing due: the cookie is not re-sent
    # Another manager with the same key (another process) reads it too: nothing is on the server.
    assert read(manager(clock), value)[0] == data


def test_changes_are_carried_forward(clock: FakeClock) -> None:
    sessions = manager(clock)
    first = saved(sessions, a=1, b=2)
    session = sessions.open(f"__Host-sessionid={first}")
    del session["a"]
    session["c"] = 3
    second = value_of(sessions.close_session(session, 200))
    assert second != first
    assert read(sessions, second)[0] == {"b": 2, "c": 3}


async def test_async_round_trip(clock: FakeClock) -> None:
    sessions = manager(clock)
    session = sessions.open(None)
    await session.aset("a", 1)
    value = value_of(await sessions.aclose_session(session, 200))
    again = sessions.open(f"__Host-sessionid={value}")
    assert await again.aget("a") == 1
    assert (await sessions.aclose_session(again, 200)).set_cookie is None


def test_the_deadline_is_inside_the_signature(clock: FakeClock) -> None:
    sessions = manager(clock)
    value = saved(sessions, a=1)
    session = sessions.open(f"__Host-sessionid={value}")
    assert session.server_deadline() == clock.now() + timedelta(weeks=2)
    assert session.created_at == clock.now()


def test_a_cookie_session_has_no_handle(clock: FakeClock) -> None:
    """Handles name server-side records in device lists; a cookie session has none."""
    sessions = manager(clock)
    session = sessions.open(f"__Host-sessionid={saved(sessions, a=1)}")
    assert session["a"] == 1
    assert session.handle is None


def test_large_sessions_are_compressed(clock: FakeClock) -> None:
    sessions = manager(clock)
    text = "the same words again and again " * 40
    value = saved(sessions, text=text)
    assert value.startswith(".")  # itsdangerous's mark of a zlib-compressed payload
    assert len(value) < len(text)
    assert read(sessions, value)[0] == {"text": text}


def test_signed_not_encrypted(clock: FakeClock) -> None:
    """The data is readable by whoever holds the cookie (documented): only tampering is refused."""
    value = saved(manager(clock), note="visible")
    payload = value.rpartition(".")[0]
    compressed = payload.startswith(".")
    raw = base64.urlsafe_b64decode(payload.lstrip(".") + "=" * (-len(payload.lstrip(".")) % 4))
    decoded = json.loads(zlib.decompress(raw) if compressed else raw)
    assert decoded["d"] == {"note": "visible"}


# --- set_expiry and the timeouts hold on the server -------------------------------------------


def test_set_expiry_is_honoured_on_the_server(clock: FakeClock) -> None:
    sessions = manager(clock)
    session = sessions.open(None)
    session["a"] = 1
    session.set_expiry(60)
    outcome = sessions.close_session(session, 200)
    assert "Max-Age=60" in (outcome.set_cookie or "")
    value = value_of(outcome)
    clock.advance(59)
    assert read(sessions, value)[0]["a"] == 1
    clock.advance(1)
    # A replayed cookie (a browser ignoring Max-Age, or a copy) opens nothing once past its deadline.
    data, outcome = read(sessions, value)
    assert data == {}
    assert deletes_cookie(outcome)


def test_an_absolute_expiry_is_honoured(clock: FakeClock) -> None:
    sessions = manager(clock)
    session = sessions.open(None)
    session["a"] = 1
    session.set_expiry(clock.now() + timedelta(minutes=5))
    value = value_of(sessions.close_session(session, 200))
    clock.advance(299)
    assert read(sessions, value)[0]["a"] == 1
    clock.advance(1)
    assert read(sessions, value)[0] == {}


def test_an_expiry_longer_than_cookie_age_is_honoured(clock: FakeClock) -> None:
    """Django's signed-cookie backend refuses such a session at SESSION_COOKIE_AGE."""
    sessions = manager(clock, cookie_age=100)
    session = sessions.open(None)
    session["a"] = 1
    session.set_expiry(1000)
    value = value_of(sessions.close_session(session, 200))
    clock.advance(500)
    assert read(sessions, value)[0]["a"] == 1


def test_the_absolute_timeout_holds(clock: FakeClock) -> None:
    sessions = manager(clock, absolute_timeout=3600, idle_timeout=600)
    value = saved(sessions, a=1)
    for _ in range(7):  # active every 5 minutes: the idle timeout keeps sliding ...
        clock.advance(300)
        data, outcome = read(sessions, value)
        if outcome.set_cookie is not None and not deletes_cookie(outcome):
            value = value_of(outcome)
    assert data == {"a": 1}
    clock.set(clock.now() + timedelta(seconds=3600 - 7 * 300))
    assert read(sessions, value)[0] == {}  # ... but not beyond an hour after creation


def test_idle_timeout_slides_by_reissuing_the_cookie(clock: FakeClock) -> None:
    sessions = manager(clock, idle_timeout=600)
    first = saved(sessions, a=1)
    clock.advance(300)
    data, outcome = read(sessions, first)
    assert data == {"a": 1}
    second = value_of(outcome)  # a read-only request re-issues the cookie with a later deadline
    assert second != first
    clock.advance(301)  # 601 s after the first cookie, 301 s after the second
    assert read(sessions, first)[0] == {}
    assert read(sessions, second)[0] == {"a": 1}


def test_no_reissue_while_the_touch_is_not_due(clock: FakeClock) -> None:
    sessions = manager(clock, idle_timeout=600)
    value = saved(sessions, a=1)
    clock.advance(100)  # would extend the deadline by 100 s: less than a quarter of 600
    assert read(sessions, value)[1].set_cookie is None


# --- what is refused -------------------------------------------------------------------------


def _flip(text: str, index: int) -> str:
    replacement = "A" if text[index] != "A" else "B"
    return text[:index] + replacement + text[index + 1 :]


def forgeries(value: str) -> dict[str, str]:
    payload, _, signature = value.rpartition(".")
    other_key = URLSafeSerializer(
        "not-the-key-but-as-long-as-one", salt=SALT, signer_kwargs={"digest_method": hashlib.sha256}
    )
    other_salt = URLSafeSerializer(KEY, salt="another.app", signer_kwargs={"digest_method": hashlib.sha256})
    forged_payload = {"v": 1, "d": {"user": "admin"}, "m": {}, "e": 4e9}
    return {
        "payload tampered": _flip(value, 5),
        "signature tampered": _flip(value, len(value) - 3),
        "truncated": value[:-5],
        "signature dropped": payload,
        "signature only": signature,
        "signed with another key": other_key.dumps(forged_payload),
        "signed for another purpose": other_salt.dumps(forged_payload),
        "signed with SHA-1": URLSafeSerializer(KEY, salt=SALT).dumps(forged_payload),
        "garbage": "not a session at all",
        "valid shape, no signature": base64.urlsafe_b64encode(json.dumps(forged_payload).encode()).decode(),
    }


@pytest.mark.parametrize(
    "kind",
    [
        "payload tampered",
        "signature tampered",
        "truncated",
        "signature dropped",
        "signature only",
        "signed with another key",
        "signed for another purpose",
        "signed with SHA-1",
        "garbage",
        "valid shape, no signature",
    ],
)
def test_forged_cookies_open_an_empty_session_and_are_deleted(clock: FakeClock, kind: str) -> None:
    sessions = manager(clock)
    value = saved(sessions, user="alice")
    forged = forgeries(value)[kind]
    data, outcome = read(sessions, forged)
    assert data == {}
    assert deletes_cookie(outcome)


def respellings(value: str) -> dict[str, str]:
    """The same signature bytes spelled otherwise, which base64 decoding forgives (the
    payload's text is what is signed, so only the signature can be respelled so)."""
    payload, _, signature = value.rpartition(".")
    standard = signature.replace("_", "/").replace("-", "+")
    return {
        "stray characters in the signature": f"{payload}.{signature[:4]}!!!!{signature[4:]}",
        "the standard alphabet in the signature": f"{payload}.{standard}",
        "padding added": f"{value}==",
    }


@pytest.mark.parametrize(
    "kind", ["stray characters in the signature", "the standard alphabet in the signature", "padding added"]
)
def test_a_signed_cookie_opens_only_as_issued(clock: FakeClock, kind: str) -> None:
    sessions = manager(clock)
    value = saved(sessions, user="alice")
    while not {"_", "-"} & set(value.rpartition(".")[2]):  # so that the standard alphabet differs
        value = saved(sessions, user="alice", note=secrets.token_hex(8))
    respelled = respellings(value)[kind]
    assert respelled != value
    data, outcome = read(sessions, respelled)
    assert data == {}
    assert deletes_cookie(outcome)
    assert read(sessions, value)[0]["user"] == "alice", "the cookie as issued still opens"


def test_a_cookie_over_4096_bytes_is_not_even_decoded(clock: FakeClock) -> None:
    sessions = manager(clock)
    session = sessions.open("__Host-sessionid=" + "a" * (MAX_COOKIE_BYTES + 1))
    assert session.session_key is None


def test_storing_a_forged_session_keeps_nothing_of_it(clock: FakeClock) -> None:
    sessions = manager(clock)
    forged = forgeries(saved(sessions, a=1))["signed with another key"]
    session = sessions.open(f"__Host-sessionid={forged}")
    session["mine"] = 1
    value = value_of(sessions.close_session(session, 200))
    assert read(sessions, value)[0] == {"mine": 1}


# --- key rotation ------------------------------------------------------------------------------


def test_key_rotation_reads_old_cookies_and_signs_with_the_first_key(clock: FakeClock) -> None:
    before = manager(clock, OLD_KEY)
    value = saved(before, a=1)
    rotated = manager(clock, KEY, OLD_KEY)
    assert read(rotated, value)[0] == {"a": 1}
    resigned = saved(rotated, value, b=2)
    only_new = manager(clock, KEY)
    assert read(only_new, resigned)[0] == {"a": 1, "b": 2}
    assert read(only_new, value)[0] == {}  # the old key, once dropped, opens nothing
    assert read(before, resigned)[0] == {}  # and the new cookie is not signed with the old key


def test_without_a_key_the_store_does_not_open() -> None:
    with pytest.raises(ConfigError, match="secret_keys"):
        SessionManager("cookie://")


@pytest.mark.parametrize("url", ["cookie://host", "cookie:///path", "cookie://?compress=0"])
def test_the_url_takes_no_options(url: str) -> None:
    with pytest.raises(ConfigError, match="cookie://"):
        SessionManager(url, secret_keys=(KEY,))


def test_a_per_user_limit_cannot_be_enforced() -> None:
    with pytest.raises(ConfigError, match="max_sessions_per_user"):
        SessionManager("cookie://", secret_keys=(KEY,), max_sessions_per_user=3)


# --- the 4 kB limit ---------------------------------------------------------------------------


def test_a_session_too_large_for_a_cookie_fails_the_save_and_keeps_the_old_cookie(clock: FakeClock) -> None:
    sessions = manager(clock)
    value = saved(sessions, small=1)
    session = sessions.open(f"__Host-sessionid={value}")
    session["blob"] = secrets.token_urlsafe(4000)  # random: compression cannot save it
    with pytest.raises(CookieTooLarge) as raised:
        sessions.close_session(session, 200)
    assert raised.value.size > MAX_COOKIE_BYTES
    assert str(raised.value.size) in str(raised.value)
    assert "server-side store" in str(raised.value)
    # Nothing was sent, so the browser still holds the previous cookie, which still works.
    assert read(sessions, value)[0] == {"small": 1}


def test_an_explicit_save_raises_in_the_view_and_loses_nothing(clock: FakeClock) -> None:
    sessions = manager(clock)
    session = sessions.open(None)
    session["keep"] = 1
    session["blob"] = secrets.token_urlsafe(4000)
    with pytest.raises(CookieTooLarge):
        session.save()
    assert session.session_key is None
    del session["blob"]  # the app reacts: keeps the large data elsewhere
    value = value_of(sessions.close_session(session, 200))
    assert read(sessions, value)[0] == {"keep": 1}


def test_the_limit_counts_the_whole_set_cookie_header(clock: FakeClock) -> None:
    """Sizes around the limit: every cookie sent fits in 4096 bytes, every refusal is over it,
    and the check is exact (the largest cookie sent is within a few bytes of the limit)."""
    sessions = manager(clock, cookie_domain="example.com", cookie_path="/app")
    blob = secrets.token_urlsafe(4000)
    largest_sent = 0
    refused_sizes: list[int] = []
    for length in range(3600, 3800, 3):
        session = sessions.open(None)
        session["blob"] = blob[:length]
        try:
            outcome = sessions.close_session(session, 200)
        except CookieTooLarge as exc:
            refused_sizes.append(exc.size)
            continue
        assert outcome.set_cookie is not None
        size = len(outcome.set_cookie.encode())
        assert size <= MAX_COOKIE_BYTES
        largest_sent = max(largest_sent, size)
    assert refused_sizes
    assert min(refused_sizes) > MAX_COOKIE_BYTES
    assert largest_sent > MAX_COOKIE_BYTES - 20


# --- new values for new privileges, and what cannot be revoked ---------------------------------


def test_cycle_key_issues_a_new_value_with_the_same_data(clock: FakeClock) -> None:
    sessions = manager(clock)
    value = saved(sessions, cart=[1])
    clock.advance(1)
    session = sessions.open(f"__Host-sessionid={value}")
    session.cycle_key()
    new = value_of(sessions.close_session(session, 200))
    assert new != value
    assert read(sessions, new)[0] == {"cart": [1]}


def test_login_issues_a_new_value_carrying_the_user(clock: FakeClock) -> None:
    sessions = manager(clock)
    value = saved(sessions, cart=[1])
    clock.advance(1)
    session = sessions.open(f"__Host-sessionid={value}")
    login(session, "alice")
    new = value_of(sessions.close_session(session, 200))
    assert new != value
    again = sessions.open(f"__Host-sessionid={new}")
    assert again.user_id == "alice"
    assert again.auth_at == clock.now()
    assert dict(again.items()) == {"cart": [1]}
    # The value from before the login still opens the anonymous session: nothing on the
    # server can withdraw it (documented), but it never carries the user.
    assert sessions.open(f"__Host-sessionid={value}").user_id is None


async def test_async_login(clock: FakeClock) -> None:
    sessions = manager(clock)
    session = sessions.open(None)
    await alogin(session, "bob")
    value = value_of(await sessions.aclose_session(session, 200))
    assert sessions.open(f"__Host-sessionid={value}").user_id == "bob"


def test_logout_drops_the_cookie_but_a_copy_stays_valid(clock: FakeClock) -> None:
    sessions = manager(clock)
    value = saved(sessions, a=1)
    session = sessions.open(f"__Host-sessionid={value}")
    logout(session)
    outcome = sessions.close_session(session, 200)
    assert deletes_cookie(outcome)
    assert outcome.clear_site_data
    # The documented limit of this store: a copy of the cookie is valid until its deadline.
    assert read(sessions, value)[0] == {"a": 1}


@pytest.mark.parametrize(
    ("operation", "words"),
    [
        (lambda m: m.list_sessions("alice"), "list a user's sessions"),
        (lambda m: m.revoke("alice", "00" * 32), "revoke a session server-side"),
        (lambda m: m.revoke_all("alice"), "revoke a user's sessions"),
        (lambda m: list(m.clear_expired()), "clear expired sessions"),
        (lambda m: m.stats(), "count sessions"),
    ],
)
def test_server_side_operations_say_they_cannot_be_done(
    clock: FakeClock, operation: object, words: str
) -> None:
    with pytest.raises(UnsupportedOperation, match=words) as raised:
        operation(manager(clock))  # type: ignore[operator]
    assert raised.value.store == "cookie://"


async def test_async_server_side_operations_say_so_too(clock: FakeClock) -> None:
    sessions = manager(clock)
    with pytest.raises(UnsupportedOperation, match="list"):
        await sessions.alist_sessions("alice")
    with pytest.raises(UnsupportedOperation, match="count"):
        await sessions.astats()
    with pytest.raises(UnsupportedOperation, match="clear"):
        async for _ in sessions.aclear_expired():
            pass


def test_the_cli_says_there_is_nothing_to_clear(capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    assert cli(["clear-expired", "--store", "cookie://"], out=out) == 0
    assert "Nothing to clear" in out.getvalue()
    assert "keeps no sessions on the server" in out.getvalue()


def test_the_cli_says_it_cannot_count(capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    assert cli(["stats", "--store", "cookie://"], out=out) == 1
    assert "cookie:// cannot count sessions" in capsys.readouterr().err


def test_renewal_issues_a_new_value(clock: FakeClock) -> None:
    sessions = manager(clock, renewal_timeout=3600)
    value = saved(sessions, a=1)
    clock.advance(3600)
    data, outcome = read(sessions, value)
    assert data == {"a": 1}
    renewed = value_of(outcome)
    assert renewed != value
    issued = sessions.open(f"__Host-sessionid={renewed}")
    issued.load()
    record = issued.state.record
    assert record is not None and record.meta.issued_at == clock.now().timestamp()
