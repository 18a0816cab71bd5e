"""Django settings for the Django tests, configured once per test process.

Settings can be configured only once per process, and ``tests/test_session_differential``
configures them too if nobody did; so the root conftest calls :func:`configure` first.
Django's own database and the default sessionary store live in a temporary directory.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

DIRECTORY = Path(tempfile.mkdtemp(prefix="sessionary-django-tests-"))
SECRET_KEY = "sessionary-django-tests-secret-key-0123456789abcdef"


def configure() -> None:
    import django
    from django.conf import settings

    if settings.configured:
        return
    atexit.register(shutil.rmtree, DIRECTORY, ignore_errors=True)
    settings.configure(
        SECRET_KEY=SECRET_KEY,
        USE_TZ=True,
        DEBUG=False,
        ALLOWED_HOSTS=["testserver", "127.0.0.1", "localhost"],
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "sessionary.django",
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(DIRECTORY / "django.db")}},
        # Django's own session middleware: the differential tests prove the engine alone;
        # sessionary's (sessionary.django.middleware) is tested where it is switched in.
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
        ],
        ROOT_URLCONF="djangotests.urls",
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                    ]
                },
            }
        ],
        # Fast hashing: the tests log in often, and hash strength is not under test.
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        SESSION_ENGINE="sessionary.django",
        SESSIONARY_STORE=f"sqlite:///{DIRECTORY / 'sessions.db'}",
        LOGGING_CONFIG=None,
    )
    django.setup()
