"""Which framework test files run, and the tests that fail on purpose, each with its reason
(the same list, with the same reasons, is in docs/frameworks.md)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Suite:
    name: str
    distribution: str
    files: tuple[str, ...]
    arguments: tuple[str, ...]
    modes: tuple[str, ...] = ("mapped",)
    extra_packages: tuple[str, ...] = ()
    """Test dependencies installed for this suite alone (``pip install --target``)."""


SUITES = (
    Suite(
        "starlette",
        "starlette",
        (
            "pyproject.toml",
            "tests/__init__.py",
            "tests/conftest.py",
            "tests/types.py",
            "tests/middleware/__init__.py",
            "tests/middleware/test_session.py",
        ),
        ("tests/middleware/test_session.py",),
        modes=("mapped", "readme"),
        extra_packages=("httpx2>=2.0", "httpcore2>=2.0"),
    ),
    Suite(
        "flask",
        "flask",
        (
            "pyproject.toml",
            "tests/conftest.py",
            "tests/test_basic.py",
            "tests/test_testing.py",
            "tests/test_session_interface.py",
        ),
        (
            "tests/test_basic.py",
            "tests/test_testing.py",
            "tests/test_session_interface.py",
            "-k",
            "session or flash or cookie",
        ),
    ),
    Suite("flask-login", "flask-login", ("tests/test_login.py",), ("tests/test_login.py",)),
)

# Why a test fails on purpose; the keys are used below.
TOKEN_NOT_DATA = "the cookie holds a random token, never the signed data"
NEGATIVE_AGE = "a negative max_age is refused at start-up (ConfigError), not sent as an expired cookie"
ATTRIBUTE_CASE = "cookie attributes are written as Django writes them (Path=, Domain=, Partitioned), names are case-insensitive"
README_DEFAULTS = (
    "the README line keeps sessionary's defaults; the test needs the Starlette argument it passes"
)

NO_SECRET_KEY = "no secret_key is needed: the session opens without one (Flask refuses)"
SERVER_KEEPS_LESS = (
    "the cookie's lifetime is cut to the 30-day absolute timeout: it never promises more "
    "than the server keeps (Flask's permanent lifetime is 31 days)"
)
FLASK_WEAKER_DEFAULTS = "where Flask's default is weaker than sessionary's, sessionary's stays"
EMPTIED_KEEPS_TOKEN = (
    "a session emptied by pop/clear keeps its token (Django's rule); flush() or "
    "sessionary.logout() deletes the cookie"
)
SYNC_ON_LOOP = (
    "sync request.session in an async view loads on the event loop without preload=True "
    "(a blocking-call detector flags it): pass preload=True, or await request.session.aload()"
)


def _both(test: str, reason: str) -> dict[str, str]:
    """A Starlette test, on both anyio backends."""
    return {
        f"tests/middleware/test_session.py::{test.format(backend)}": reason for backend in ("asyncio", "trio")
    }


_STARLETTE_MAPPED = {
    **_both("test_domain_cookie[{}]", ATTRIBUTE_CASE),
    **_both("test_partitioned_session[{}-True]", ATTRIBUTE_CASE),
    **_both("test_session_cookie_subpath[{}]", ATTRIBUTE_CASE),
    **_both("test_session_expires[{}]", NEGATIVE_AGE),
}

EXPECTED_FAILURES: dict[tuple[str, str], dict[str, str]] = {
    ("starlette", "mapped"): _STARLETTE_MAPPED,
    ("starlette", "readme"): {
        **_STARLETTE_MAPPED,
        **_both("test_secure_session[{}]", README_DEFAULTS + " (https_only=True)"),
        **_both("test_session_cookie[{}]", README_DEFAULTS + " (max_age=None)"),
        **_both("test_session_expires[{}]", README_DEFAULTS + " (the cookie's name, session)"),
        **_both("test_session_zero_max_age[{}]", README_DEFAULTS + " (max_age=0)"),
        "tests/middleware/test_session.py::test_session_persists_mutations[asyncio-/inplace_update_session-data0-expected0]": SYNC_ON_LOOP,
        "tests/middleware/test_session.py::test_session_persists_mutations[asyncio-/popitem_session-None-expected1]": SYNC_ON_LOOP,
    },
    ("flask", "mapped"): {
        "tests/test_basic.py::test_missing_session": NO_SECRET_KEY,
        "tests/test_testing.py::test_session_transactions_no_null_sessions": NO_SECRET_KEY,
        "tests/test_basic.py::test_session_secret_key_fallbacks": TOKEN_NOT_DATA
        + ": changing SECRET_KEY does not end sessions (sessionary.Config.revoked_before does)",
        "tests/test_basic.py::test_session_expiration": SERVER_KEEPS_LESS,
        "tests/test_basic.py::test_session_using_samesite_attribute": FLASK_WEAKER_DEFAULTS
        + " (SESSION_COOKIE_SAMESITE=None keeps SameSite=Lax)",
        "tests/test_basic.py::test_session_using_session_settings": EMPTIED_KEEPS_TOKEN
        + "; and the cookie is named sessionid unless SESSION_COOKIE_NAME is set",
    },
    ("flask-login", "mapped"): {},
}
