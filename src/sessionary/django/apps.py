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


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``manage.py check`` / ``runserver``: build the manager once, so a bad setting is
    reported at start-up rather than at the first request."""
    from .conf import build_manager

    try:
        build_manager().close()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="sessionary.E001")]
    return []
