"""Run one sequence of requests against an engine and record what a client can observe.

A step is a tuple: ``("ops", [operation, ...], {"report": 1, "status": 500})`` posts to the
sync operations view, ``"aops"`` to the async one; ``("advance", seconds)`` moves Django's
clock; ``("post", path, data)`` / ``("apost", path, data)`` any other view;
``("cookie", value)`` replaces the browser's session cookie; ``("settings", {...})``
changes settings for the rest of the sequence.

An observation holds the status, the body (JSON), ``Vary``, and the session cookie's
attributes. Session keys are random, so a cookie's value is recorded only as "new",
"same" (as the browser held) or deleted.
"""

from __future__ import annotations

import contextlib
import json
import time
from email.utils import parsedate_to_datetime
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import AsyncClient, Client
from django.test.utils import override_settings

from .conftest import DjangoClock, Engines

Step = tuple[Any, ...]
PASSWORD = "secret-password"


def cookie_attributes(response: Any, before: str | None) -> dict[str, Any] | None:
    morsel = response.cookies.get(settings.SESSION_COOKIE_NAME)
    if morsel is None:
        return None
    seen: dict[str, Any] = {
        name: morsel[name] for name in ("path", "domain", "secure", "httponly", "samesite", "max-age")
    }
    if morsel.value in ("", '""'):
        seen["value"] = "deleted"
        seen["expires"] = morsel["expires"]
        return seen
    seen["value"] = "same" if morsel.value == before else "new"
    expires = morsel["expires"]
    if not expires:
        seen["expires"] = None
    else:
        # Django's middleware dates Expires by the real clock: check it agrees with Max-Age.
        offset = parsedate_to_datetime(expires).timestamp() - time.time()
        seen["expires"] = "now + max-age" if abs(offset - int(morsel["max-age"])) <= 2 else expires
    return seen


def _normalise(body: Any) -> Any:
    """The auth hash depends on the password's random salt, different on each run."""
    state = body.get("state") if isinstance(body, dict) else None
    if state and "_auth_user_hash" in state["data"]:
        state["data"]["_auth_user_hash"] = "<hash>"
    return body


def observe(response: Any, before: str | None) -> dict[str, Any]:
    content_type = response.get("Content-Type", "")
    body = (
        json.loads(response.content)
        if content_type.startswith("application/json")
        else response.content.decode()
    )
    return {
        "status": response.status_code,
        "body": _normalise(body),
        "vary": response.get("Vary"),
        "cookie": cookie_attributes(response, before),
    }


def reset_users(usernames: list[str]) -> None:
    """Each run starts with the same passwords (a run may change them)."""
    model = get_user_model()
    for username in usernames:
        user = model.objects.get(username=username)
        user.set_password(PASSWORD)
        user.save()


def run(
    engines: Engines,
    name: str,
    steps: list[Step],
    clock: DjangoClock,
    *,
    users: list[str] = (),  # type: ignore[assignment]
    **settings_extra: Any,
) -> list[dict[str, Any]]:
    clock.reset()
    reset_users(list(users))
    observations: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        stack.enter_context(engines.activate(name, **settings_extra))
        client = Client(raise_request_exception=False)
        aclient = AsyncClient(raise_request_exception=False)
        aclient.cookies = client.cookies
        for step in steps:
            if control_step(step, clock, stack, client):
                continue
            kind = step[0]
            morsel = client.cookies.get(settings.SESSION_COOKIE_NAME)
            before = morsel.value if morsel is not None else None
            if kind in ("ops", "aops"):
                data = {"ops": json.dumps(step[1]), **(step[2] if len(step) > 2 else {})}
                path = "/s/" if kind == "ops" else "/as/"
                use_async = kind == "aops"
            else:
                path, data = step[1], (step[2] if len(step) > 2 else {})
                use_async = kind == "apost"
            response = async_to_sync(aclient.post)(path, data) if use_async else client.post(path, data)
            observations.append(observe(response, before))
            after = client.cookies.get(settings.SESSION_COOKIE_NAME)
            if after is not None and after["max-age"] == 0:
                del client.cookies[settings.SESSION_COOKIE_NAME]  # as a browser drops it
    return observations


def compare(engines: Engines, store: str, steps: list[Step], clock: DjangoClock, **options: Any) -> None:
    """Django's db backend and sessionary on ``store`` must be indistinguishable."""
    expected = run(engines, "db", steps, clock, **options)
    actual = run(engines, store, steps, clock, **options)
    for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
        assert got == want, f"step {index} differs\n  db:         {want}\n  sessionary: {got}"


def control_step(step: tuple[Any, ...], clock: Any, stack: contextlib.ExitStack, client: Client) -> bool:
    """Run ``step`` if it drives the test rather than sends a request (move the clock,
    change settings, set the session cookie); True if it was one."""
    kind = step[0]
    if kind == "advance":
        clock.advance(step[1])
    elif kind == "settings":
        stack.enter_context(override_settings(**step[1]))
    elif kind == "cookie":
        client.cookies[settings.SESSION_COOKIE_NAME] = step[1]
    else:
        return False
    return True
