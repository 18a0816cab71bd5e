"""Views that drive a session through a list of operations, for the differential tests.

``POST /s/`` (sync) and ``POST /as/`` (async, through the ``a*`` API) take ``ops``, a JSON
list of operations, apply them in order and answer JSON with each operation's result and,
when ``report`` is set, the session's state afterwards (reading it marks it accessed).
``status`` sets the response's status code (500 to check that nothing is saved), and
``headers`` (a JSON object) response headers of the view's own, such as its
``Cache-Control``, and ``cookie`` (a JSON object) a session cookie the view sets itself,
with those attributes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone


def _expiry(kind: str, value: Any) -> Any:
    if kind == "none":
        return None
    if kind == "timedelta":
        return timedelta(seconds=value)
    if kind == "datetime":
        return timezone.now() + timedelta(seconds=value, microseconds=250)
    if kind == "naive":
        return datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=value)
    return value


def _interrupt(request: HttpRequest) -> None:
    """Delete this session's record through another store object, as a concurrent logout would."""
    engine = import_module(settings.SESSION_ENGINE)
    engine.SessionStore().delete(request.session.session_key)


def _apply(request: HttpRequest, op: list[Any]) -> Any:
    session = request.session
    name, *args = op
    if name == "set":
        session[args[0]] = args[1]
    elif name == "del":
        del session[args[0]]
    elif name == "pop":
        return session.pop(*args)
    elif name == "setdefault":
        return session.setdefault(args[0], args[1])
    elif name == "update":
        session.update(args[0])
    elif name == "get":
        return session.get(args[0])
    elif name == "contains":
        return args[0] in session
    elif name == "keys":
        return sorted(session.keys())
    elif name == "clear":
        session.clear()
    elif name == "flush":
        session.flush()
    elif name == "cycle_key":
        session.cycle_key()
    elif name == "expiry":
        session.set_expiry(_expiry(*args))
    elif name == "save":
        session.save()
    elif name == "modified":
        session.modified = True
    elif name == "mutate":
        session[args[0]].append(args[1])
    elif name == "test_cookie_set":
        session.set_test_cookie()
    elif name == "test_cookie_worked":
        return session.test_cookie_worked()
    elif name == "test_cookie_delete":
        session.delete_test_cookie()
    elif name == "interrupt":
        _interrupt(request)
    else:
        raise ValueError(f"unknown operation {name!r}")
    return None


async def _aapply(request: HttpRequest, op: list[Any]) -> Any:
    session = request.session
    name, *args = op
    if name == "set":
        await session.aset(args[0], args[1])
    elif name == "pop":
        return await session.apop(*args)
    elif name == "setdefault":
        return await session.asetdefault(args[0], args[1])
    elif name == "update":
        await session.aupdate(args[0])
    elif name == "get":
        return await session.aget(args[0])
    elif name == "contains":
        return await session.ahas_key(args[0])
    elif name == "keys":
        return sorted(await session.akeys())
    elif name == "clear":
        session.clear()
    elif name == "flush":
        await session.aflush()
    elif name == "cycle_key":
        await session.acycle_key()
    elif name == "expiry":
        await session.aset_expiry(_expiry(*args))
    elif name == "save":
        await session.asave()
    elif name == "modified":
        session.modified = True
    elif name == "test_cookie_set":
        await session.aset_test_cookie()
    elif name == "test_cookie_worked":
        return await session.atest_cookie_worked()
    elif name == "test_cookie_delete":
        await session.adelete_test_cookie()
    else:
        raise ValueError(f"unknown async operation {name!r}")
    return None


def _state(request: HttpRequest) -> dict[str, Any]:
    session = request.session
    return {
        "data": dict(session.items()),
        "age": session.get_expiry_age(),
        "date": session.get_expiry_date().isoformat(),
        "browser_close": session.get_expire_at_browser_close(),
        "empty": session.is_empty(),
        "has_key": session.session_key is not None,
        "modified": session.modified,
    }


async def _astate(request: HttpRequest) -> dict[str, Any]:
    session = request.session
    return {
        "data": dict(await session.aitems()),
        "age": await session.aget_expiry_age(),
        "date": (await session.aget_expiry_date()).isoformat(),
        "browser_close": await session.aget_expire_at_browser_close(),
        "empty": session.is_empty(),
        "has_key": session.session_key is not None,
        "modified": session.modified,
    }


def run_ops(request: HttpRequest) -> HttpResponse:
    results = []
    for op in json.loads(request.POST.get("ops", "[]")):
        try:
            results.append(["ok", _apply(request, op)])
        except KeyError as exc:
            results.append(["KeyError", str(exc)])
    body: dict[str, Any] = {"results": results}
    if request.POST.get("report"):
        body["state"] = _state(request)
    return _with_headers(request, JsonResponse(body, status=int(request.POST.get("status", 200))))


def _with_headers(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    for name, value in json.loads(request.POST.get("headers", "{}")).items():
        response[name] = value
    cookie = request.POST.get("cookie")
    if cookie:
        # The view sets the session cookie itself, with these attributes.
        response.set_cookie(settings.SESSION_COOKIE_NAME, "set-by-the-view")
        for name, value in json.loads(cookie).items():
            response.cookies[settings.SESSION_COOKIE_NAME][name] = value
    return response


async def arun_ops(request: HttpRequest) -> HttpResponse:
    results = []
    for op in json.loads(request.POST.get("ops", "[]")):
        try:
            results.append(["ok", await _aapply(request, op)])
        except KeyError as exc:
            results.append(["KeyError", str(exc)])
    body: dict[str, Any] = {"results": results}
    if request.POST.get("report"):
        body["state"] = await _astate(request)
    return _with_headers(request, JsonResponse(body, status=int(request.POST.get("status", 200))))


# --- contrib.auth --------------------------------------------------------------------------


def login(request: HttpRequest) -> HttpResponse:
    user = auth.authenticate(request, username=request.POST["username"], password=request.POST["password"])
    if user is None:
        return JsonResponse({"error": "bad credentials"}, status=403)
    auth.login(request, user)
    if request.POST.get("expiry"):
        request.session.set_expiry(int(request.POST["expiry"]))
    return JsonResponse({"user": user.get_username()})


async def alogin(request: HttpRequest) -> HttpResponse:
    user = await auth.aauthenticate(
        request, username=request.POST["username"], password=request.POST["password"]
    )
    if user is None:
        return JsonResponse({"error": "bad credentials"}, status=403)
    await auth.alogin(request, user)
    return JsonResponse({"user": user.get_username()})


def logout(request: HttpRequest) -> HttpResponse:
    auth.logout(request)
    return JsonResponse({"user": None})


async def alogout(request: HttpRequest) -> HttpResponse:
    await auth.alogout(request)
    return JsonResponse({"user": None})


def whoami(request: HttpRequest) -> HttpResponse:
    user = request.user
    return JsonResponse({"user": user.get_username() if user.is_authenticated else None})


async def awhoami(request: HttpRequest) -> HttpResponse:
    user = await request.auser()
    return JsonResponse({"user": user.get_username() if user.is_authenticated else None})


def change_password(request: HttpRequest) -> HttpResponse:
    """Set a new password and keep this session signed in (``update_session_auth_hash``)."""
    user = request.user
    if not user.is_authenticated:
        return JsonResponse({"error": "anonymous"}, status=403)
    user.set_password(request.POST["password"])
    user.save()
    if request.POST.get("keep", "1") == "1":
        auth.update_session_auth_hash(request, user)
    return JsonResponse({"user": user.get_username()})


def set_password(request: HttpRequest) -> HttpResponse:
    """Change a user's password from outside any of their sessions (an admin, a reset)."""
    user = get_user_model().objects.get(username=request.POST["username"])
    user.set_password(request.POST["password"])
    user.save()
    return JsonResponse({"user": user.get_username()})
