"""The DBSC test site's routes on Django (tests/djangotests/test_dbsc.py): the same four
as tests/dbsc_apps.py, signing in through ``django.contrib.auth``."""

from __future__ import annotations

from django.contrib import auth
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.urls import path


def sign_in(request: HttpRequest) -> HttpResponse:
    name = request.GET.get("user", "alice")
    user, _ = get_user_model().objects.get_or_create(username=name)
    auth.login(request, user)
    request.session["user"] = name
    return HttpResponse("signed in")


def read(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"user={request.session.get('user', '-')}")


def set_user(request: HttpRequest) -> HttpResponse:
    request.session["user"] = request.GET.get("user", "Alice")
    return HttpResponse("set")


def sign_out(request: HttpRequest) -> HttpResponse:
    auth.logout(request)
    return HttpResponse("signed out")


urlpatterns = [
    path("login", sign_in),
    path("read", read),
    path("set", set_user),
    path("logout", sign_out),
]
