"""The app behind ``"sessionary.django"`` in ``INSTALLED_APPS``: commands, the devices page,
and a start-up check of the ``SESSIONARY_*`` settings."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.core import checks
from django.core.exceptions import ImproperlyConfigured


class SessionaryConfig(AppConfig):
    name = "sessionary.django"
    label = "sessionary"
    verbose_name = "sessionary sessions"

    def ready(self) -> None:
        checks.register(check_settings, checks.Tags.compatibility)
        checks.register(check_middleware, checks.Tags.security)


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``manage.py check`` / ``runserver``: build the manager once, so a bad setting is
    reported at start-up rather than at the first request."""
    from .conf import build_manager

    try:
        build_manager().close()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="sessionary.E001")]
    return []


DJANGO_MIDDLEWARE = "django.contrib.sessions.middleware.SessionMiddleware"
OUR_MIDDLEWARE = "sessionary.django.middleware.SessionMiddleware"


def check_middleware(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The engine under Django's own middleware: a view's ``Cache-Control: public`` then
    rides on the response that sets the session cookie (sessionary's middleware stops it)."""
    from django.conf import settings

    if settings.SESSION_ENGINE != "sessionary.django" or DJANGO_MIDDLEWARE not in settings.MIDDLEWARE:
        return []
    return [
        checks.Warning(
            f"MIDDLEWARE has {DJANGO_MIDDLEWARE}: a response that sets the session cookie keeps the "
            "view's Cache-Control (a 'public' one lets a shared cache hand the cookie to others)",
            hint=f"use {OUR_MIDDLEWARE} in its place (Django's, plus that rule)",
            id="sessionary.W001",
        )
    ]
