"""What sessionary adds through Django: the per-user index, timeouts, the session limit,
the management commands, the devices page and the importer of django_session rows."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore as DbSessionStore
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.test.utils import override_settings

from sessionary.django import SessionStore, get_manager
from sessionary.tokens import handle, store_key

from .conftest import DjangoClock, Engines, make_user
from .differential import PASSWORD


def signed_in(user: Any, **client_options: Any) -> Client:
    client = Client(**client_options)
    response = client.post("/login/", {"username": user.get_username(), "password": PASSWORD})
    assert response.status_code == 200, response.content
    return client


def whoami(client: Client) -> str | None:
    user: str | None = client.post("/whoami/").json()["user"]
    return user


def session_key(client: Client) -> str:
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def test_sessions_are_indexed_by_the_signed_in_user(ours: None, djclock: DjangoClock) -> None:
    alice, bob = make_user(), make_user()
    laptop, phone, other = signed_in(alice), signed_in(alice), signed_in(bob)
    manager = get_manager()
    handles = {device.handle for device in manager.list_sessions(alice.pk)}
    assert handles == {handle(store_key(session_key(c))) for c in (laptop, phone)}
    assert all(device.signed_in_at is not None for device in manager.list_sessions(alice.pk))
    laptop.post("/logout/")
    assert [d.handle for d in manager.list_sessions(alice.pk)] == [handle(store_key(session_key(phone)))]
    assert manager.revoke_all(alice.pk) == 1
    assert whoami(phone) is None
    assert whoami(other) == bob.get_username()


def test_a_user_switch_moves_the_index(ours: None) -> None:
    alice, bob = make_user(), make_user()
    client = signed_in(alice)
    client.post("/login/", {"username": bob.get_username(), "password": PASSWORD})
    manager = get_manager()
    assert manager.list_sessions(alice.pk) == []
    assert len(manager.list_sessions(bob.pk)) == 1


def test_idle_timeout_counts_from_the_last_request(
    engines: Engines, store_name: str, djclock: DjangoClock
) -> None:
    with engines.activate(store_name, SESSIONARY_IDLE_TIMEOUT=60):
        user = make_user()
        client = signed_in(user)
        djclock.advance(50)
        assert whoami(client) == user.get_username()  # a read: recorded as activity
        djclock.advance(50)
        assert whoami(client) == user.get_username()
        djclock.advance(61)
        assert whoami(client) is None


def test_absolute_timeout_counts_from_sign_in(
    engines: Engines, store_name: str, djclock: DjangoClock
) -> None:
    with engines.activate(store_name, SESSIONARY_ABSOLUTE_TIMEOUT=100, SESSION_SAVE_EVERY_REQUEST=True):
        djclock.advance(30)  # an anonymous session's age does not count once signed in
        user = make_user()
        client = signed_in(user)
        for _ in range(3):
            djclock.advance(30)
            assert whoami(client) == user.get_username()
        client.post("/password/", {"password": PASSWORD})  # cycle_key: not a new sign-in
        djclock.advance(11)
        assert whoami(client) is None


def test_browser_close_timeout(engines: Engines, store_name: str, djclock: DjangoClock) -> None:
    with engines.activate(store_name, SESSIONARY_BROWSER_CLOSE_TIMEOUT=100, SESSION_SAVE_EVERY_REQUEST=True):
        client = Client()
        client.post("/s/", {"ops": '[["set", "a", 1], ["expiry", "zero", 0]]'})
        djclock.advance(90)
        assert client.post("/s/", {"ops": '[["get", "a"]]'}).json()["results"] == [["ok", 1]]
        djclock.advance(11)
        assert client.post("/s/", {"ops": '[["get", "a"]]'}).json()["results"] == [["ok", None]]


def test_session_limit_ends_the_least_recent(engines: Engines, store_name: str, djclock: DjangoClock) -> None:
    with engines.activate(store_name, SESSIONARY_MAX_SESSIONS_PER_USER=2):
        user = make_user()
        first = signed_in(user)
        djclock.advance(1)
        second = signed_in(user)
        djclock.advance(1)
        third = signed_in(user)
        assert [whoami(c) for c in (first, second, third)] == [None, user.get_username(), user.get_username()]
        assert len(get_manager().list_sessions(user.pk)) == 2


def test_record_client_notes_the_sign_in_device(engines: Engines, store_name: str) -> None:
    with engines.activate(store_name, SESSIONARY_RECORD_CLIENT=True):
        user = make_user()
        signed_in(user, HTTP_USER_AGENT="Firefox/140 test", REMOTE_ADDR="192.0.2.7")
        [device] = get_manager().list_sessions(user.pk)
        assert (device.ip, device.user_agent) == ("192.0.2.7", "Firefox/140 test")


# --- sessionary_sessions -----------------------------------------------------------------------


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=out)
    return out.getvalue()


def test_sessionary_sessions_command(ours: None) -> None:
    alice = make_user()
    laptop, phone = signed_in(alice), signed_in(alice)
    listing = run("sessionary_sessions", str(alice.pk))
    handles = re.findall(r"^([0-9a-f]{64})\s", listing, re.MULTILINE)
    assert sorted(handles) == sorted(handle(store_key(session_key(c))) for c in (laptop, phone))
    assert run("sessionary_sessions", alice.get_username(), "--username").count("\n") == 3
    laptop_handle = handle(store_key(session_key(laptop)))
    assert "Ended session" in run("sessionary_sessions", str(alice.pk), "--revoke", laptop_handle)
    assert whoami(laptop) is None and whoami(phone) == alice.get_username()
    with pytest.raises(CommandError, match="no live session"):
        run("sessionary_sessions", str(alice.pk), "--revoke", laptop_handle)
    assert "Ended 1 sessions" in run("sessionary_sessions", str(alice.pk), "--revoke-all")
    assert whoami(phone) is None
    assert "no live sessions" in run("sessionary_sessions", str(alice.pk))
    with pytest.raises(CommandError, match="no user"):
        run("sessionary_sessions", "nobody-by-that-name", "--username")


# --- the devices page ---------------------------------------------------------------------------


def test_devices_page_lists_only_the_users_sessions(ours: None) -> None:
    alice, bob = make_user(), make_user()
    laptop, phone = signed_in(alice), signed_in(alice)
    signed_in(bob)
    page = laptop.get("/account/sessions/")
    assert page.status_code == 200
    listed = re.findall(r'data-session="([0-9a-f]{64})"', page.content.decode())
    assert sorted(listed) == sorted(handle(store_key(session_key(c))) for c in (laptop, phone))
    assert "This session" in page.content.decode()
    assert "Log out everywhere else" in page.content.decode()
    assert Client().get("/account/sessions/").status_code == 302  # signed out: to the login page


def test_devices_page_ends_a_session(ours: None) -> None:
    alice, bob = make_user(), make_user()
    laptop, phone = signed_in(alice), signed_in(alice)
    stranger = signed_in(bob)
    bobs = handle(store_key(session_key(stranger)))
    laptop.post("/account/sessions/revoke/", {"session": bobs})
    assert whoami(stranger) == bob.get_username()  # not alice's: untouched
    response = laptop.post("/account/sessions/revoke/", {"session": handle(store_key(session_key(phone)))})
    assert response.status_code == 302
    assert whoami(phone) is None and whoami(laptop) == alice.get_username()
    laptop.post("/account/sessions/revoke/", {"session": handle(store_key(session_key(laptop)))})
    assert whoami(laptop) is None  # its own session: that is a logout


def test_log_out_everywhere_else(ours: None) -> None:
    alice = make_user()
    laptop, phone, tablet = signed_in(alice), signed_in(alice), signed_in(alice)
    before = session_key(laptop)
    response = laptop.post("/account/sessions/revoke-others/")
    assert response.status_code == 302
    assert session_key(laptop) != before  # this session continues under a new key
    assert [whoami(c) for c in (laptop, phone, tablet)] == [alice.get_username(), None, None]
    assert len(get_manager().list_sessions(alice.pk)) == 1


def test_devices_page_needs_post_and_csrf(ours: None) -> None:
    alice = make_user()
    laptop, phone = Client(enforce_csrf_checks=True), signed_in(alice)
    laptop.force_login(alice)  # Django's test client signs in through SESSION_ENGINE too
    target = handle(store_key(session_key(phone)))
    assert laptop.get("/account/sessions/revoke/").status_code == 405
    assert laptop.post("/account/sessions/revoke/", {"session": target}).status_code == 403
    assert laptop.post("/account/sessions/revoke-others/").status_code == 403
    assert whoami(phone) == alice.get_username()
    page = laptop.get("/account/sessions/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None
    response = laptop.post(
        "/account/sessions/revoke/", {"session": target, "csrfmiddlewaretoken": token.group(1)}
    )
    assert response.status_code == 302
    assert whoami(phone) is None


# --- importing django_session -------------------------------------------------------------------


def test_import_keeps_django_users_signed_in(engines: Engines, store_name: str, djclock: DjangoClock) -> None:
    alice = make_user()
    with override_settings(SESSION_ENGINE="django.contrib.sessions.backends.db"):
        browser = signed_in(alice)
        browser.post("/s/", {"ops": '[["set", "cart", [1, 2]], ["expiry", "int", 3600]]'})
        old_key = session_key(browser)
        expired = DbSessionStore()
        expired["x"] = 1
        expired.set_expiry(5)
        expired.save()
    expire_date = DbSessionStore(old_key).get_expiry_date()
    djclock.advance(6)
    with engines.activate(store_name, SESSIONARY_ACCEPT_DJANGO_KEYS=True):
        # The same browser, now talking to a site whose SESSION_ENGINE is sessionary's.
        cookies, browser = browser.cookies, Client()
        browser.cookies = cookies
        output = run("sessionary_import", "--dry-run")
        assert "Would import" in output
        assert not get_manager().store.sync.exists(store_key(old_key))
        output = run("sessionary_import")
        assert re.search(r"Imported [1-9]\d* sessions", output)
        record = get_manager().store.sync.load(store_key(old_key), djclock.now().timestamp())
        assert record is not None and record.expires_at == expire_date.timestamp()
        assert not get_manager().store.sync.exists(store_key(expired.session_key or ""))
        assert "Imported 0 sessions" in run("sessionary_import")  # idempotent
        assert whoami(browser) == alice.get_username()
        state = browser.post("/s/", {"ops": '[["get", "cart"]]', "report": "1"}).json()
        assert state["results"] == [["ok", [1, 2]]]
        assert [d.handle for d in get_manager().list_sessions(alice.pk)] == [handle(store_key(old_key))]
        browser.post("/login/", {"username": alice.get_username(), "password": PASSWORD})
        whoami(browser)
        browser.post("/password/", {"password": PASSWORD})  # cycle_key: now a sessionary token
        assert len(session_key(browser)) == 43
        assert whoami(browser) == alice.get_username()
        assert not get_manager().store.sync.exists(store_key(old_key))


def test_imported_keys_need_the_setting(engines: Engines, store_name: str) -> None:
    with override_settings(SESSION_ENGINE="django.contrib.sessions.backends.db"):
        old = DbSessionStore()
        old["a"] = 1
        old.save()
    with engines.activate(store_name):
        assert "SESSIONARY_ACCEPT_DJANGO_KEYS" in run("sessionary_import")
        assert SessionStore(old.session_key).load() == {}
    with pytest.raises(CommandError, match="keeps no table"):
        run("sessionary_import", "--engine", "django.contrib.sessions.backends.signed_cookies")


# --- documented differences -----------------------------------------------------------------


def test_secret_key_rotation_without_fallbacks_signs_out_on_both(engines: Engines, store_name: str) -> None:
    """Django's db backend can no longer read the session; here contrib.auth's hash check
    flushes it. Signed out either way; only the cookie's fate differs (documented)."""
    fates = {}
    for engine in ("db", store_name):
        with engines.activate(engine):
            user = make_user()
            client = Client()
            assert client.login(username=user.get_username(), password=PASSWORD)
            assert whoami(client) == user.get_username()
            with override_settings(SECRET_KEY="a-completely-different-secret-key-" + "q" * 30):
                response = client.post("/whoami/")
                assert response.json()["user"] is None
                fates[engine] = response.cookies.get(settings.SESSION_COOKIE_NAME)
    assert fates["db"] is None
    assert fates[store_name] is not None and fates[store_name].value in ("", '""')


def test_save_every_request_writes_activity_once_per_throttle_window(
    engines: Engines, store_name: str, djclock: DjangoClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SESSION_SAVE_EVERY_REQUEST moves the deadline as Django's does, but an unchanged
    session costs a store write only once per ``touch_fraction`` of its window."""
    with engines.activate(store_name, SESSION_SAVE_EVERY_REQUEST=True, SESSION_COOKIE_AGE=1000):
        client = Client()

        def ops(*operations: list[Any]) -> list[Any]:
            response = client.post("/s/", {"ops": json.dumps(list(operations))})
            assert response.status_code == 200, response.content
            results: list[Any] = response.json()["results"]
            return results

        ops(["set", "cart", [1]])
        store = get_manager().store.sync
        calls: list[str] = []
        for name in ("write", "touch"):
            real = getattr(store, name)
            monkeypatch.setattr(
                store, name, lambda *a, _real=real, _name=name: calls.append(_name) or _real(*a)
            )
        for _ in range(20):  # 200 s in all: less than a quarter of the 1000 s window
            djclock.advance(10)
            assert ops(["get", "cart"]) == [["ok", [1]]]
        assert calls == []
        for _ in range(6):  # each step past a quarter of the window: one touch each
            djclock.advance(300)
            assert ops(["get", "cart"]) == [["ok", [1]]]
        assert calls == ["touch"] * 6  # 2000 s later, still alive: the deadline slid
        ops(["mutate", "cart", 2])  # changed in place, not marked modified: saved all the same
        assert calls[-1] == "write"
        assert ops(["get", "cart"]) == [["ok", [1, 2]]]


def test_background_cleanup_is_off_unless_set(tmp_path: Path) -> None:
    with override_settings(SESSIONARY_STORE=f"sqlite:///{tmp_path}/off.db"):
        assert get_manager().cleanup is None, "Django's own default: clearsessions, scheduled by you"
    with override_settings(SESSIONARY_STORE=f"sqlite:///{tmp_path}/on.db", SESSIONARY_CLEANUP_INTERVAL=600):
        manager = get_manager()
        assert manager.cleanup is not None and manager.cleanup.interval == 600
        get_manager()  # as the engine does on each request: the process's thread starts
        thread = manager.cleanup._thread
        assert thread is not None and thread.is_alive()


# Django's deployment checks for SESSION_COOKIE_SECURE (sessions app, middleware, both).
COOKIE_NOT_SECURE = {"security.W010", "security.W011", "security.W012"}


def test_the_cookie_follows_djangos_secure_setting_and_check_deploy_says_so(ours: None) -> None:
    """The engine writes no cookie of its own: Django's SESSION_COOKIE_SECURE (off by
    default) decides, and ``manage.py check --deploy`` warns about it, as the docs say."""
    from django.core import checks

    user = make_user()
    with override_settings(SESSION_COOKIE_SECURE=False):
        cookie = signed_in(user).cookies[settings.SESSION_COOKIE_NAME]
        assert not cookie["secure"]
        warnings = checks.run_checks(include_deployment_checks=True, tags=[checks.Tags.security])
        assert COOKIE_NOT_SECURE & {warning.id for warning in warnings}
    with override_settings(SESSION_COOKIE_SECURE=True):
        assert signed_in(user, secure=True).cookies[settings.SESSION_COOKIE_NAME]["secure"]
        warnings = checks.run_checks(include_deployment_checks=True, tags=[checks.Tags.security])
        assert not COOKIE_NOT_SECURE & {warning.id for warning in warnings}
    root = Path(__file__).resolve().parents[2]
    for page in (root / "README.md", root / "docs" / "django.md"):
        text = " ".join(page.read_text().split())
        assert "SESSION_COOKIE_SECURE" in text and "check --deploy" in text, page.name


def test_an_unflagged_save_writes_what_changed_in_place_or_behind_its_back(
    engines: Engines, store_name: str
) -> None:
    """A save that nothing flagged (SESSION_SAVE_EVERY_REQUEST's) tells an unchanged
    session from the strings and numbers still being the objects loaded; a change inside
    a list or an object, or a value put in the data without the flag, is written all
    the same, as Django writes the whole session."""
    with engines.activate(store_name, SESSION_SAVE_EVERY_REQUEST=True):
        session = SessionStore()
        session.update({"n": 1, "name": "x", "cart": [{"qty": 1}], "prefs": {"a": [1]}})
        session.save()
        key = session.session_key

        def stored() -> dict[str, Any]:
            return dict(SessionStore(key).load())

        again = SessionStore(key)
        again.load()
        again.save()  # nothing changed
        assert stored() == {"n": 1, "name": "x", "cart": [{"qty": 1}], "prefs": {"a": [1]}}
        again["cart"][0]["qty"] = 2  # deep inside a list, no flag
        again.save()
        assert stored()["cart"] == [{"qty": 2}]
        again["prefs"]["a"].append(2)  # after a save of this same object: against that save
        again.save()
        assert stored()["prefs"] == {"a": [1, 2]}
        again._session_cache["name"] = "y"  # replaced without the flag
        again.save()
        assert stored()["name"] == "y"
        del again._session_cache["n"]
        again.save()
        assert "n" not in stored()


@pytest.mark.parametrize("use_tz", [True, False])
def test_the_saved_deadline_is_djangos_expiry_date(engines: Engines, use_tz: bool) -> None:
    """What a save stores as Django's deadline is ``get_expiry_date()`` to the bit, the
    shortcut for whole-second ages included (a naive clock is Django's own arithmetic)."""
    import random
    from datetime import UTC, datetime, timedelta

    from sessionary.django import records

    rng = random.Random(16)
    with engines.activate("memory", USE_TZ=use_tz):
        session = SessionStore()
        for stored in (None, 0, 1, 3600, 10**6, 2.5, (datetime.now(UTC) + timedelta(days=3)).isoformat()):
            if stored is None:
                session.pop("_session_expiry", None)
            else:
                session["_session_expiry"] = stored
            for _ in range(300):
                when = datetime.fromtimestamp(rng.uniform(1e9, 2e9), UTC if use_tz else None)
                moment = records.Moment(when, records.epoch(when))
                expected = records.epoch(session.get_expiry_date(modification=when))
                assert records.saved_deadline(session, moment) == expected, (stored, when)
