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
    vendored: str | None = None
    """The version whose files are vendored under tests/integrations/upstream/NAME/ (for a
    project whose sdist ships no tests); None: the files come from the sdist."""
    unchanged: tuple[str, ...] = ()
    """For vendored tests of a version other than the installed one: the installed
    distribution's modules the tests exercise (files or folders). SOURCES.sha256 beside
    the copy holds their SHA-256 at the vendored version; the run goes ahead only while
    the installed ones are byte-identical (else it refuses, naming the changed files)."""


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
    Suite(
        "starsessions",
        "starsessions",
        (
            "tests/conftest.py",
            "tests/test_middleware.py",
            "tests/test_rolling_session.py",
            "tests/test_expiring_session.py",
            "tests/test_autoloading.py",
            "tests/test_metadata.py",
        ),
        ("tests",),
        vendored="2.2.1",
    ),
    Suite(
        "litestar",
        "litestar",
        (
            "tests/__init__.py",
            "tests/conftest.py",
            "tests/unit/__init__.py",
            "tests/unit/test_middleware/__init__.py",
            "tests/unit/test_middleware/test_session/__init__.py",
            "tests/unit/test_middleware/test_session/conftest.py",
            "tests/unit/test_middleware/test_session/test_middleware.py",
            "tests/unit/test_middleware/test_session/test_server_side_backend.py",
            "tests/unit/test_middleware/test_session/test_integration.py",
        ),
        (
            "tests/unit/test_middleware/test_session",
            # Litestar's own settings for its tests (pyproject.toml): async tests run by
            # pytest-asyncio's auto mode, every warning an error.
            "-o",
            "asyncio_mode=auto",
            "-W",
            "error",
            "-W",
            "ignore:datetime.datetime.utcnow:DeprecationWarning:time_machine",
            # Litestar 2.25 deprecates what 2.24's test app does (its kwargs model, not
            # its session code): the unmapped run fails on it too.
            "-W",
            "ignore:[paths='/login', handler='login'] Reserved kwarg 'data' declared without a body marker:DeprecationWarning",
            # The same tests with Litestar's client-side (cookie) backend: not a server-side session.
            *(
                f"--deselect=tests/unit/test_middleware/test_session/test_middleware.py::{test}[cookie]"
                for test in (
                    "test_integration",
                    "test_session_id_correctness",
                    "test_keep_session_id",
                    "test_set_empty",
                )
            ),
        ),
        # unmapped: Litestar's own session code, to show the 2.24.0 copy passes on the
        # installed version.
        modes=("mapped", "unmapped"),
        extra_packages=("pytest-lazy-fixtures>=1.1",),
        vendored="2.24.0",
        unchanged=(
            "litestar/middleware/session",
            "litestar/security/session_auth",
            "litestar/stores",
            "litestar/testing",
            "litestar/connection/base.py",
        ),
    ),
)

# Why a test fails on purpose; the keys are used below.
TOKEN_NOT_DATA = "the cookie holds a random token, never the signed data"
NEGATIVE_AGE = "a negative max_age is refused at start-up (ConfigError), not sent as an expired cookie"
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
PEER_STORE = (
    "the test writes or reads starsessions' own store object (its ids and its bytes); "
    "sessionary's store is its own, and a 32-hex starsessions id is refused as a malformed cookie"
)
PEER_API = "the test calls starsessions' own session API (its handler in the scope); see the guide's name-by-name table"
STALE_COOKIE_DELETED = (
    "a cookie of the session's name that is not a sessionary token is deleted on the response, "
    "so the stale cookie does not come back on every request"
)
LAZY_LOAD = "the session loads when first used, so there is no SessionNotLoaded to raise"
NO_SESSION_ID = (
    "request.get_session_id() is None: the cookie's token is a secret the handler is never "
    "given (session.handle names the session)"
)
LITESTAR_STORE = (
    "the test looks the cookie's value up in Litestar's store object; the session is in "
    "sessionary's store, keyed by the SHA-256 of the token (a leaked store holds no live session)"
)
LITESTAR_BACKEND = (
    "the test drives Litestar's ServerSideSessionBackend (get / set / delete of bytes under an id "
    "the test picks, on a Litestar store); sessionary never takes a session id from outside, and "
    "its backend object serves only what Litestar's TestClient and SessionAuth ask of one"
)


def _both(test: str, reason: str) -> dict[str, str]:
    """A Starlette test, on both anyio backends."""
    return {
        f"tests/middleware/test_session.py::{test.format(backend)}": reason for backend in ("asyncio", "trio")
    }


_STARLETTE_MAPPED = {
    **_both("test_session_expires[{}]", NEGATIVE_AGE),
}

_LITESTAR = "tests/unit/test_middleware/test_session/"

EXPECTED_FAILURES: dict[tuple[str, str], dict[str, str]] = {
    ("starlette", "mapped"): _STARLETTE_MAPPED,
    ("starlette", "readme"): {
        **_STARLETTE_MAPPED,
        **_both("test_domain_cookie[{}]", README_DEFAULTS + " (domain=)"),
        **_both("test_partitioned_session[{}-True]", README_DEFAULTS + " (partitioned=True)"),
        **_both("test_session_cookie_subpath[{}]", README_DEFAULTS + " (path=)"),
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
    ("litestar", "mapped"): {
        f"{_LITESTAR}test_middleware.py::test_session_id_correctness[server-side]": NO_SESSION_ID,
        f"{_LITESTAR}test_middleware.py::test_keep_session_id[server-side]": NO_SESSION_ID,
        f"{_LITESTAR}test_server_side_backend.py::test_non_default_store": LITESTAR_STORE,
        f"{_LITESTAR}test_server_side_backend.py::test_set_store_name": LITESTAR_STORE,
        **{
            f"{_LITESTAR}test_server_side_backend.py::{test}": LITESTAR_BACKEND
            for test in (
                "test_get_set",
                "test_get_renew_on_access",
                "test_get_set_multiple_returns_correct_identity",
                "test_delete",
                "test_delete_idempotence",
                "test_max_age_expires",
            )
        },
        f"{_LITESTAR}test_server_side_backend.py::test_key_validation[key3-True]": "a cookie name longer "
        "than 256 characters is accepted, as any RFC 6265 name is (Litestar caps its key for its "
        "cookie backend's chunk names); a bad name is refused with LitestarConfigError",
        f"{_LITESTAR}test_server_side_backend.py::test_max_age_validation[0-True]": "max_age=0 "
        "(cookie_age=0) is accepted, as Django's SESSION_COOKIE_AGE=0 is: the session ends at once; "
        "a negative one is refused with LitestarConfigError",
    },
    ("litestar", "unmapped"): {},
    ("starsessions", "mapped"): {
        "tests/test_autoloading.py::test_always_loads_session": PEER_STORE,
        "tests/test_autoloading.py::test_loads_for_string_paths": LAZY_LOAD,
        "tests/test_autoloading.py::test_loads_for_regex_paths": LAZY_LOAD,
        "tests/test_expiring_session.py::test_expiring_session_must_not_extend_duration": PEER_STORE,
        "tests/test_rolling_session.py::test_rolling_session_must_extend_duration": PEER_STORE,
        "tests/test_metadata.py::test_requires_loaded_session": PEER_API + " (get_session_metadata)",
        "tests/test_metadata.py::test_load_should_create_new_metadata": PEER_API + " (get_session_metadata)",
        "tests/test_metadata.py::test_load_should_not_overwrite_created_timestamp": PEER_API
        + " (get_session_metadata)",
        "tests/test_metadata.py::test_should_update_last_access_time_on_load": PEER_API
        + " (get_session_metadata)",
        "tests/test_middleware.py::test_loads_existing_session": PEER_STORE,
        "tests/test_middleware.py::test_will_clear_storage_if_session_destroyed": PEER_STORE,
        "tests/test_middleware.py::test_will_not_send_cookie_if_initially_empty_session_destroyed": STALE_COOKIE_DELETED,
        "tests/test_middleware.py::test_session_timedelta_lifetime": "the test reads the middleware's attribute "
        "lifetime; sessionary's is config.cookie_age (the timedelta is mapped to seconds all the same)",
    },
}
