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
    "surrogate-value": ([["set", "comment", "caf\ud800"]], SessionValueError, "'comment': value holds the lone surrogate"),
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
