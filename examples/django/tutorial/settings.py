"""The example project: the session tutorial's views on ``SESSION_ENGINE = "sessionary.django"``.

Everything below is a stock Django project except the three lines marked "sessionary".
Data (Django's database and the session store) goes to ``$EXAMPLE_DATA_DIR``, or beside
this project.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("EXAMPLE_DATA_DIR", BASE_DIR))

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-secret-0b3f6c1e9a7d4c2b8e5f")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",  # for `manage.py clearsessions`; no table of it is used
    "django.contrib.messages",
    "sessionary.django",  # sessionary: commands, the devices page, start-up checks
    "tutorial",
]

MIDDLEWARE = [
    # Django's session middleware, plus: a response that sets the session cookie is never
    # storable by a shared cache, whatever the view's Cache-Control.
    "sessionary.django.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "tutorial.urls"
WSGI_APPLICATION = "tutorial.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": DATA_DIR / "db.sqlite3"}}

SESSION_ENGINE = "sessionary.django"  # sessionary: the one setting that switches
SESSIONARY_STORE = os.environ.get("SESSIONARY_STORE", f"sqlite:///{DATA_DIR / 'sessions.db'}")  # sessionary

LOGIN_URL = "/login/"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
