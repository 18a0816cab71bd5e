"""Every cookie and header decision of Django's ``SessionMiddleware``, over HTTP.

Each test runs twice: through ``sessionary.SessionMiddleware`` on a Starlette app with
Starlette's ``TestClient``, and through ``sessionary.WSGISessionMiddleware`` on a Flask
app with Flask's test client; both on a real SQLite file, with a fake clock.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sessionary import SessionManager
from sessionary.stores.base import Record
from sessionary.testing import FakeClock
from sessionary.tokens import is_well_formed, new_token, store_key
from support.http_apps import KINDS, Browser, Reply, attributes, cookie_value
from support.spies import RecordingSQLite, recording_store

TWO_WEEKS = 1209600
START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
DELETED = (
    '__Host-sessionid=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; SameSite=Lax; Secure'
)


def http_date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


class Site:
    """A sessionary-wrapped app on a real SQLite file, its store spy and its clock."""

    def __init__(self, kind: str, path: Path, clock: FakeClock, **settings: object) -> None:
        store, self.backend = recording_store(path)
        self.manager = SessionManager(store, clock=clock, **settings)
        self.clock = clock
        self.browser = Browser(kind, self.manager)

    def get(self, path: str, **kwargs: object) -> Reply:
        return self.browser.get(path, **kwargs)  # type: ignore[arg-type]

    def record(self, token: str) -> Record | None:
        return self.backend.load(store_key(token), self.manager.now())

    def new_session(self, user: str = "Alice", **query: object) -> str:
        """A stored session made through the app; returns its token."""
        reply = self.get("/set", cookie=None, user=user, **query)
        assert reply.status == 200, reply.text
        (set_cookie,) = reply.set_cookies
        token = cookie_value(set_cookie)
        assert is_well_formed(token)
        return token


@pytest.fixture
def site(kind: str, tmp_path: Path, clock: FakeClock) -> Iterator[Callable[..., Site]]:
    made: list[Site] = []

    def build(**settings: object) -> Site:
        made.append(Site(kind, tmp_path / "sessions.db", clock, **settings))
        return made[-1]

    yield build
    for each in made:
        each.manager.close()


def cookie(token: str, name: str = "__Host-sessionid") -> str:
    return f"{name}={token}"


# --- requests that do not change the session -------------------------------------------------


def test_untouched_request_gets_no_cookie_no_vary_and_costs_no_store_call(site: Callable[..., Site]) -> None:
    app = site()
    token = app.new_session()
    app.backend.calls.clear()
    for sent in (None, cookie(token), cookie(new_token())):
        reply = app.get("/untouched", cookie=sent)
        assert reply.status == 200
        assert reply.set_cookies == []
        assert reply.header("vary") is None
        assert reply.header("cache-control") is None
    assert app.backend.calls == []


def test_read_only_access_varies_on_cookie_without_setting_one(site: Callable[..., Site]) -> None:
    app = site()
    reply = app.get("/read", cookie=None)
    assert (reply.text, reply.set_cookies, reply.header("vary")) == ("user=-", [], "Cookie")
    assert reply.header("cache-control") is None
    assert app.manager.stats().live == 0

    token = app.new_session()
    before = app.record(token)
    app.clock.advance(600)
    reply = app.get("/read", cookie=cookie(token))
    assert (reply.text, reply.set_cookies, reply.header("vary")) == ("user=Alice", [], "Cookie")
    # Reading does not extend the session (Django: "reading a session does not extend it").
    after = app.record(token)
    assert before is not None and after is not None
    assert after.expires_at == before.expires_at


# --- the cookie a modified session gets ----------------------------------------------------------


def test_modified_session_sets_cookie_with_djangos_attributes(site: Callable[..., Site]) -> None:
    app = site()
    reply = app.get("/set", cookie=None, user="Alice")
    (set_cookie,) = reply.set_cookies
    token = cookie_value(set_cookie)
    assert set_cookie == (
        f"__Host-sessionid={token}; expires=Thu, 15 Jan 2026 12:00:00 GMT; HttpOnly; Max-Age={TWO_WEEKS}; "
        "Path=/; SameSite=Lax; Secure"
    )
    assert reply.header("vary") == "Cookie"
    assert reply.header("cache-control") == "private, no-store"
    record = app.record(token)
    assert record is not None and record.data == {"user": "Alice"}
    assert record.expires_at == (START + timedelta(seconds=TWO_WEEKS)).timestamp()

    # A later change re-sends the same token with the age counted from the new save.
    app.clock.advance(100)
    reply = app.get("/set", cookie=cookie(token), user="Bob")
    assert reply.set_cookies == [
        f"__Host-sessionid={token}; expires={http_date(START + timedelta(seconds=100 + TWO_WEEKS))}; HttpOnly; "
        f"Max-Age={TWO_WEEKS}; Path=/; SameSite=Lax; Secure"
    ]
    record = app.record(token)
    assert record is not None and record.data == {"user": "Bob"}


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            {"cookie_domain": ".example.com", "cookie_path": "/app/", "cookie_samesite": "None"},
            "__Secure-sessionid={token}; Domain=.example.com; expires=Fri, 02 Jan 2026 12:00:00 GMT; HttpOnly; "
            "Max-Age=86400; Path=/app/; SameSite=None; Secure",
        ),
        (
            {"cookie_samesite": None, "cookie_httponly": False, "cookie_secure": False},
            "sessionid={token}; expires=Fri, 02 Jan 2026 12:00:00 GMT; Max-Age=86400; Path=/",
        ),
        (
            {"cookie_name": "sid", "cookie_samesite": "strict"},
            "__Host-sid={token}; expires=Fri, 02 Jan 2026 12:00:00 GMT; HttpOnly; Max-Age=86400; Path=/; "
            "SameSite=Strict; Secure",
        ),
        (
            {"cookie_host_prefix": True},
            "__Host-sessionid={token}; expires=Fri, 02 Jan 2026 12:00:00 GMT; HttpOnly; Max-Age=86400; "
            "Path=/; SameSite=Lax; Secure",
        ),
        (
            {"cookie_host_prefix": False},
            "sessionid={token}; expires=Fri, 02 Jan 2026 12:00:00 GMT; HttpOnly; Max-Age=86400; "
            "Path=/; SameSite=Lax; Secure",
        ),
    ],
    ids=[
        "domain-path-samesite-none",
        "no-samesite-no-httponly-insecure",
        "custom-name-strict",
        "host-prefix",
        "no-prefix",
    ],
)
def test_cookie_attributes_follow_the_config(
    site: Callable[..., Site], settings: dict[str, object], expected: str
) -> None:
    app = site(cookie_age=86400, **settings)
    (set_cookie,) = app.get("/set", cookie=None).set_cookies
    assert set_cookie == expected.format(token=cookie_value(set_cookie))


def test_browser_close_cookie_has_no_max_age_or_expires(site: Callable[..., Site]) -> None:
    browser_close = "__Host-sessionid={}; HttpOnly; Path=/; SameSite=Lax; Secure"
    app = site()
    (set_cookie,) = app.get("/expiry", cookie=None, value=0).set_cookies
    assert set_cookie == browser_close.format(cookie_value(set_cookie))

    everyone = site(expire_at_browser_close=True)
    (set_cookie,) = everyone.get("/set", cookie=None).set_cookies
    assert set_cookie == browser_close.format(cookie_value(set_cookie))
    (set_cookie,) = everyone.get("/expiry", cookie=None, value="none").set_cookies
    assert set_cookie == browser_close.format(cookie_value(set_cookie))

    # A per-session expiry overrides the global browser-close setting (as in Django).
    (set_cookie,) = everyone.get("/expiry", cookie=None, value=300).set_cookies
    assert set_cookie == (
        f"__Host-sessionid={cookie_value(set_cookie)}; expires=Thu, 01 Jan 2026 12:05:00 GMT; HttpOnly; "
        "Max-Age=300; Path=/; SameSite=Lax; Secure"
    )


def test_browser_close_session_still_ends_cookie_age_after_its_last_save(site: Callable[..., Site]) -> None:
    app = site(cookie_age=3600)
    token = cookie_value(app.get("/expiry", cookie=None, value=0).set_cookies[0])
    app.clock.advance(3599)
    assert app.get("/read", cookie=cookie(token)).text == "user=Alice"
    app.clock.advance(1)
    reply = app.get("/read", cookie=cookie(token))
    assert reply.text == "user=-"
    assert reply.set_cookies == [DELETED]


# --- flush, 5xx, save_every_request, emptied sessions --------------------------------------------


@pytest.mark.parametrize("status", [200, 500, 503])
def test_flush_deletes_the_cookie_and_the_record_even_on_5xx(site: Callable[..., Site], status: int) -> None:
    app = site()
    token = app.new_session()
    reply = app.get("/flush", cookie=cookie(token), status=status)
    assert reply.status == status
    assert reply.set_cookies == [DELETED]
    assert reply.header("vary") == "Cookie"
    assert reply.header("cache-control") == "private, no-store"
    assert not app.backend.exists(store_key(token))
    assert app.get("/read", cookie=cookie(token)).text == "user=-"


def test_flush_without_a_cookie_sends_no_cookie(site: Callable[..., Site]) -> None:
    reply = site().get("/flush", cookie=None)
    assert reply.set_cookies == []
    assert reply.header("vary") == "Cookie"


@pytest.mark.parametrize("status", [500, 502, 503, 599])
def test_no_save_and_no_cookie_on_5xx(site: Callable[..., Site], status: int) -> None:
    app = site()
    token = app.new_session()
    before = app.record(token)
    app.clock.advance(60)
    reply = app.get("/set", cookie=cookie(token), user="Mallory", status=status)
    assert reply.status == status
    assert reply.set_cookies == []
    assert reply.header("vary") == "Cookie"
    assert app.record(token) == before

    # A new session is not created either.
    app.backend.calls.clear()
    reply = app.get("/set", cookie=None, status=status)
    assert reply.set_cookies == []
    assert "create" not in app.backend.calls
    assert app.manager.stats().live == 1


def test_save_every_request_resends_the_cookie_and_slides_the_deadline(site: Callable[..., Site]) -> None:
    app = site(save_every_request=True, cookie_age=1000)
    token = app.new_session()
    app.clock.advance(600)
    reply = app.get("/untouched", cookie=cookie(token))
    assert reply.set_cookies == [
        f"__Host-sessionid={token}; expires={http_date(START + timedelta(seconds=1600))}; HttpOnly; "
        "Max-Age=1000; Path=/; SameSite=Lax; Secure"
    ]
    assert reply.header("vary") == "Cookie"
    assert reply.header("cache-control") == "private, no-store"
    record = app.record(token)
    assert record is not None
    assert record.expires_at == (START + timedelta(seconds=1600)).timestamp()
    app.clock.advance(900)  # past the first deadline, within the slid one
    assert app.get("/read", cookie=cookie(token)).text == "user=Alice"


def test_save_every_request_never_creates_an_empty_session(site: Callable[..., Site]) -> None:
    app = site(save_every_request=True)
    for path in ("/untouched", "/read"):
        reply = app.get(path, cookie=None)
        assert reply.set_cookies == []
    # A stale cookie is deleted, not replaced by a new empty record (Django would try
    # to update the vanished row; sessionary tells the browser the session is gone).
    stale = new_token()
    reply = app.get("/untouched", cookie=cookie(stale))
    assert reply.set_cookies == [DELETED]
    assert app.manager.stats().live == 0
    assert not app.backend.exists(store_key(stale))


def test_emptied_session_with_a_key_is_still_saved_and_resent(site: Callable[..., Site]) -> None:
    app = site()
    token = app.new_session()
    reply = app.get("/clear", cookie=cookie(token))
    (set_cookie,) = reply.set_cookies
    assert cookie_value(set_cookie) == token
    record = app.record(token)
    assert record is not None and record.data == {}
    assert app.get("/keys", cookie=cookie(token)).text == ""


# --- expiry is enforced on load --------------------------------------------------------------


def test_expired_set_expiry_session_is_never_returned(site: Callable[..., Site]) -> None:
    app = site()
    token = cookie_value(app.get("/set-short-session", cookie=None).set_cookies[0])
    app.clock.advance(9)
    assert app.get("/check-session", cookie=cookie(token)).text == "User in session: Alice"
    app.clock.advance(1)  # exactly the deadline: dead, as Django's ``expire_date > now``
    reply = app.get("/check-session", cookie=cookie(token))
    assert reply.text == "User in session: No session"
    assert reply.set_cookies == [DELETED]
    assert app.record(token) is None


def test_expired_cookie_age_session_is_never_returned(site: Callable[..., Site]) -> None:
    app = site(cookie_age=60)
    token = app.new_session()
    app.clock.advance(59)
    assert app.get("/read", cookie=cookie(token)).text == "user=Alice"
    app.clock.advance(2)
    reply = app.get("/read", cookie=cookie(token))
    assert reply.text == "user=-"
    assert reply.set_cookies == [DELETED]
    # Writing to it starts a new session under a new token; the old one stays dead.
    reply = app.get("/set", cookie=cookie(token), user="Bob")
    (set_cookie,) = reply.set_cookies
    assert cookie_value(set_cookie) != token
    assert app.get("/read", cookie=cookie(token)).text == "user=-"
    assert app.get("/read", cookie=set_cookie.split(";")[0]).text == "user=Bob"


# --- client-chosen IDs are never adopted ----------------------------------------------------


@pytest.mark.parametrize("save_every_request", [False, True])
def test_forged_well_formed_id_is_never_adopted(site: Callable[..., Site], save_every_request: bool) -> None:
    app = site(save_every_request=save_every_request)
    app.new_session()
    forged = new_token()
    # ``clear()`` empties without loading, so the save looks for the record and finds
    # none: Django answers 400 (its forced UPDATE hits no row), and so does sessionary.
    for path, status in (("/read", 200), ("/set", 200), ("/clear", 400), ("/untouched", 200)):
        reply = app.get(path, cookie=cookie(forged))
        assert reply.status == status
        assert all(forged not in value for _, value in reply.headers)
        assert forged not in reply.text
    assert not app.backend.exists(store_key(forged))
    reply = app.get("/set", cookie=cookie(forged))
    (set_cookie,) = reply.set_cookies
    assert cookie_value(set_cookie) != forged


# --- a concurrent logout ---------------------------------------------------------------------


def test_save_after_a_concurrent_logout_answers_400_and_stays_deleted(site: Callable[..., Site]) -> None:
    app = site()
    token = app.new_session()
    loaded, logged_out = threading.Event(), threading.Event()

    def between() -> None:
        loaded.set()
        assert logged_out.wait(10)

    app.browser.hooks["between"] = between
    replies: list[Reply] = []
    slow = threading.Thread(target=lambda: replies.append(app.get("/read-then-wait", cookie=cookie(token))))
    slow.start()
    assert loaded.wait(10)
    logout = app.get("/flush", cookie=cookie(token))
    assert logout.set_cookies == [DELETED]
    logged_out.set()
    slow.join(10)
    (reply,) = replies
    assert reply.status == 400
    assert reply.set_cookies == []
    assert not app.backend.exists(store_key(token))
    assert app.get("/read", cookie=cookie(token)).text == "user=-"


# --- store failures ---------------------------------------------------------------------------


def test_store_failure_on_load_answers_503_with_a_log_line(
    site: Callable[..., Site], caplog: pytest.LogCaptureFixture
) -> None:
    app = site()
    token = app.new_session()
    app.backend.failing.add("load")
    with caplog.at_level(logging.ERROR, logger="sessionary"):
        reply = app.get("/read", cookie=cookie(token))
    assert reply.status == 503
    assert reply.set_cookies == []
    assert reply.header("retry-after") == "5"
    (line,) = [r.getMessage() for r in caplog.records if r.name == "sessionary"]
    assert app.backend.name in line
    assert "connection refused (simulated outage)" in line


def test_store_failure_on_save_answers_503_and_issues_no_cookie(
    site: Callable[..., Site], caplog: pytest.LogCaptureFixture
) -> None:
    app = site()
    token = app.new_session()
    app.backend.failing.update({"write", "create"})
    with caplog.at_level(logging.ERROR, logger="sessionary"):
        changed = app.get("/set", cookie=cookie(token), user="Bob")
        created = app.get("/set", cookie=None, user="Carol")
    for reply in (changed, created):
        assert reply.status == 503
        assert reply.set_cookies == []
    assert sum(app.backend.name in r.getMessage() for r in caplog.records) == 2
    record = app.record(token)
    assert record is not None and record.data == {"user": "Alice"}


def test_corrupt_sqlite_file_answers_503_naming_the_file(
    site: Callable[..., Site], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = site()
    token = app.new_session()
    app.manager.close()
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"sessions.db{suffix}").unlink(missing_ok=True)
    (tmp_path / "sessions.db").write_bytes(b"this is not a database file " * 200)
    with caplog.at_level(logging.ERROR, logger="sessionary"):
        reply = app.get("/read", cookie=cookie(token))
    assert reply.status == 503
    assert reply.set_cookies == []
    (line,) = [r.getMessage() for r in caplog.records if r.name == "sessionary"]
    assert str(tmp_path / "sessions.db") in line
    assert "file is not a database" in line


def test_app_that_handles_a_store_failure_keeps_its_answer(site: Callable[..., Site]) -> None:
    app = site()
    token = app.new_session()
    app.backend.failing.add("load")
    reply = app.get("/store-error-handled", cookie=cookie(token))
    assert (reply.status, reply.text, reply.set_cookies) == (200, "degraded", [])


# --- duplicated cookies --------------------------------------------------------------------------


def test_duplicated_cookies_find_the_valid_one(site: Callable[..., Site]) -> None:
    app = site()
    token = app.new_session()
    for header in (
        f"__Host-sessionid={new_token()}; __Host-sessionid={token}",
        f"__Host-sessionid=short; other=1; __Host-sessionid={token}",
        f"__Host-sessionid={new_token()}; __Host-sessionid={new_token()}; __Host-sessionid={token}",
    ):
        reply = app.get("/read", cookie=header)
        assert reply.text == "user=Alice"
        assert reply.set_cookies == []
    # A change is saved to the session that was found, under its own token.
    reply = app.get("/set", cookie=f"__Host-sessionid={new_token()}; __Host-sessionid={token}", user="Bob")
    assert [cookie_value(value) for value in reply.set_cookies] == [token]
    record = app.record(token)
    assert record is not None and record.data == {"user": "Bob"}


# --- the tutorial, with the client's own cookie jar ----------------------------------------------


def test_tutorial_flow(kind: str, tmp_path: Path) -> None:
    """``/set-short-session`` then ``/check-session`` before and after ten seconds."""
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    manager = SessionManager(f"sqlite:///{tmp_path}/tutorial.db", clock=clock)
    browser = Browser(kind, manager)
    try:
        assert browser.get("/check-session").text == "User in session: No session"
        reply = browser.get("/set-short-session")
        assert (reply.status, reply.text) == (200, "Session set for 10 seconds")
        assert attributes(reply.set_cookies[0])["max-age"] == "10"
        assert browser.jar_cookie() is not None
        clock.advance(5)
        assert browser.get("/check-session").text == "User in session: Alice"
        clock.advance(6)
        reply = browser.get("/check-session")
        assert reply.text == "User in session: No session"
        assert browser.jar_cookie() is None  # the response told the client to drop it
        assert browser.get("/check-session").text == "User in session: No session"
    finally:
        manager.close()


def test_recording_spy_sees_real_calls(tmp_path: Path, clock: FakeClock) -> None:
    """The spy used above records what the store really does (and a failing one fails)."""
    backend = RecordingSQLite(tmp_path / "spy.db")
    assert backend.load(b"\0" * 32, 0.0) is None
    assert backend.calls == ["load"]
    backend.failing.add("count")
    with pytest.raises(Exception, match="simulated outage"):
        backend.count(0.0)
    backend.close()


def test_session_gone_during_a_view_answers_400(site: Callable[..., Site]) -> None:
    """``SessionInterrupted`` raised by a save in the view is a 400, as in Django, even
    though the framework turns the view's exception into its own 500 page."""
    app = site()
    app.browser.raise_server_exceptions = False
    reply = app.get("/save-now", cookie=cookie(new_token()))
    assert reply.status == 400
    assert reply.set_cookies == []
    assert app.manager.stats().live == 0


def test_save_every_request_on_5xx_saves_nothing(site: Callable[..., Site]) -> None:
    app = site(save_every_request=True)
    token = app.new_session()
    before = app.record(token)
    app.clock.advance(600)
    for path in ("/untouched", "/set"):
        reply = app.get(path, cookie=cookie(token), status=500, user="Mallory")
        assert (reply.status, reply.set_cookies) == (500, [])
    assert app.record(token) == before
