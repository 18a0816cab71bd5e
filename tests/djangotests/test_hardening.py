"""The Django engine's twins of tests/test_hardening.py: bad values and the whole session's
size refused before anything is written, and Django's two 2026 cache advisories, through
Django's own test client on every store."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.test.utils import override_settings

from sessionary import SessionValueError
from sessionary.django import get_manager
from sessionary.errors import SessionTooLarge
from sessionary.stores.base import Record
from sessionary.tokens import store_key

from .conftest import DjangoClock


def run(client: Client, ops: list[Any], *, asynchronous: bool = False) -> Any:
    return client.post("/as/" if asynchronous else "/s/", {"ops": json.dumps(ops)})


def stored(client: Client) -> Record | None:
    manager = get_manager()
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    return manager.store.sync.load(store_key(key), manager.now())


def live(client: Client) -> int:
    manager = get_manager()
    return manager.store.sync.count(manager.now()).live


BAD = {
    "surrogate-value": (
        [["set", "comment", "caf\ud800"]],
        SessionValueError,
        "'comment': value holds the lone surrogate",
    ),
    "surrogate-key": ([["set", "\udfff", 1]], SessionValueError, "the key holds the lone surrogate"),
    "huge-expiry": ([["expiry", "int", 10**12]], SessionValueError, "'_session_expiry'"),
    "huge-timedelta": ([["expiry", "timedelta", 10**12]], SessionValueError, "'_session_expiry'"),
    "too-large": (
        [["set", f"v{index}", "x" * 1000] for index in range(100)],
        SessionTooLarge,
        "over max_session_bytes=8192",
    ),
}


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("case", BAD)
def test_bad_values_and_oversized_sessions_write_nothing(
    ours: None, djclock: DjangoClock, case: str, asynchronous: bool
) -> None:
    ops, error, match = BAD[case]
    with override_settings(SESSIONARY_MAX_SESSION_BYTES=8192):
        client = Client()
        assert run(client, [["set", "user", "Alice"]]).status_code == 200
        before = stored(client)
        assert before is not None and before.data == {"user": "Alice"}
        with pytest.raises(error, match=match):
            run(client, ops, asynchronous=asynchronous)
        assert stored(client) == before

        count = live(client)
        with pytest.raises(error, match=match):
            run(Client(), [["set", "fine", 1], *ops], asynchronous=asynchronous)
        assert live(client) == count


def test_cve_2026_35192_save_every_request_varies_on_cookie(ours: None, djclock: DjangoClock) -> None:
    """Under SESSION_SAVE_EVERY_REQUEST an unmodified session's response still varies on
    Cookie (Django's fix, kept with the sessionary engine)."""
    with override_settings(SESSION_SAVE_EVERY_REQUEST=True):
        client = Client()
        assert run(client, [["set", "user", "Alice"]]).status_code == 200
        djclock.advance(60)
        response = run(client, [["get", "user"]])
        assert settings.SESSION_COOKIE_NAME in response.cookies
        assert "Cookie" in response["Vary"]


# --- stolen-cookie detection -------------------------------------------------------------


@pytest.mark.parametrize("ends_all", [False, True], ids=["session", "user"])
def test_a_key_retired_by_sign_in_and_presented_later_ends_the_session(
    engines: Any, store_name: str, djclock: DjangoClock, ends_all: bool
) -> None:
    """The same rule as tests/test_reuse.py through ``django.contrib.auth``'s login (which
    cycles the key): the pre-sign-in key sent after the grace ends the signed-in session."""
    from .conftest import make_user
    from .differential import PASSWORD

    events: list[Any] = []
    with engines.activate(
        store_name,
        SESSIONARY_DETECT_TOKEN_REUSE=True,
        SESSIONARY_REUSE_GRACE=5,
        SESSIONARY_REUSE_ENDS_USER_SESSIONS=ends_all,
        SESSIONARY_ON_EVENT=events.append,
    ):
        user = make_user()
        other_device = Client()
        assert (
            other_device.post("/login/", {"username": user.get_username(), "password": PASSWORD}).status_code
            == 200
        )
        client = Client()
        assert run(client, [["set", "cart", ["book"]]]).status_code == 200
        before = client.cookies[settings.SESSION_COOKIE_NAME].value
        response = client.post("/login/", {"username": user.get_username(), "password": PASSWORD})
        assert response.status_code == 200
        signed_in = client.cookies[settings.SESSION_COOKIE_NAME].value
        assert signed_in != before

        djclock.advance(1)  # within the grace: no session, no alarm
        assert (
            Client(HTTP_COOKIE=f"{settings.SESSION_COOKIE_NAME}={before}").post("/whoami/").json()["user"]
            is None
        )
        assert [e for e in events if e.kind == "token_reused"] == []
        assert client.post("/whoami/").json()["user"] == user.get_username()

        djclock.advance(10)
        thief = Client(HTTP_COOKIE=f"{settings.SESSION_COOKIE_NAME}={before}")
        assert thief.post("/whoami/").json()["user"] is None
        assert [e.kind for e in events].count("token_reused") == 1
        assert client.post("/whoami/").json()["user"] is None
        still = other_device.post("/whoami/").json()["user"]
        assert still == (None if ends_all else user.get_username())
