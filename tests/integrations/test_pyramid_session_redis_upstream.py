"""pyramid-session-redis's own session tests (``TestRedisSession`` from its 1.8.1 sdist,
kept unchanged in ``upstream/pyramid_session_redis/``) run against sessionary's Pyramid
session, on SQLite and on the real Redis.

The adapter gives each test what ``RedisSession`` offers under its own names: a session
already stored (as the tests' ``_set_up_session_in_redis`` does), ``do_persist()`` (save
now), ``from_redis()`` (the record as the store now holds it, read afresh), ``timeout`` /
``adjust_session_timeout`` (sessionary: ``get_expiry_age`` / ``set_expiry``) and the
Python 2 ``iter*`` names. Tests of RedisSession's internals (its session-id objects, its
fake Redis's keys, its change-detection state) and of behaviour sessionary does not share
on purpose are listed in ``NOT_APPLICABLE`` with the reason.

Its app tests (``tests/test_pyramid.py``, kept as ``app_tests.py`` with the app they
drive) run with that app's views behind sessionary's factory; the two about emptied
sessions test its ``invalidate_empty_session`` option and are in ``APP_TESTS_NOT_RUN``
with the reason. Its ``tests/test_factory.py`` is not run: it drives RedisSessionFactory's
calls into a fake Redis client, its cookie signer and its timeout options, none of which
sessionary has. docs/migrating-from-pyramid-session-redis.md describes the differences.
"""

from __future__ import annotations

import secrets
import tempfile
import unittest
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sessionary import SessionManager
from sessionary.integrations.pyramid import PyramidSession
from support.services import REDIS_HOST, REDIS_PORT, REDIS_URL, require_port

from .upstream.pyramid_session_redis import app_tests
from .upstream.pyramid_session_redis.session_tests import TestRedisSession

INTERNALS = (
    "tests RedisSession's internals (its session-id objects, its fake Redis's keys, its private state)"
)
NOT_APPLICABLE = {
    "test_init_new_session": "the test chooses the session id; sessionary never adopts an id it did not issue",
    "test_init_existing_session": "the test chooses the session id; sessionary never adopts an id it did not issue",
    "test_invalidate": INTERNALS,
    "test_new_session_after_invalidate": INTERNALS,
    "test_session_id_access_after_invalidate_creates_new_session": INTERNALS,
    "test_managed_dict_access_after_invalidate_creates_new_session": INTERNALS,
    "test_created_access_after_invalidate_creates_new_session": INTERNALS,
    "test_timeout_access_after_invalidate_creates_new_session": INTERNALS,
    "test_new_attribute_access_after_invalidate_creates_new_session": INTERNALS,
    "test_repeated_invalidates_without_new_session_created_in_between": INTERNALS,
    "test_invalidate_new_session_invalidate": INTERNALS,
    "test_invalidate_new_session_invalidate_new_session": INTERNALS,
    "test_dict_multilevel_detect_changes_on": INTERNALS,
    "test_dict_multilevel_detect_changes_off": INTERNALS,
    "test_dict_multilevel": (
        "a value changed in place is saved after session.changed() (Pyramid's ISession rule), "
        "not found by re-serializing every value at the end of each request"
    ),
}


class Adapted:
    """One request's session, with RedisSession's names for what the tests call."""

    def __init__(self, manager: SessionManager, token: str) -> None:
        self._manager = manager
        self._token = token
        self.session = self._open(token)

    def _open(self, token: str) -> PyramidSession:
        session = self._manager.open(
            f"{self._manager.config.session_cookie_name}={token}", session_class=PyramidSession
        )
        assert isinstance(session, PyramidSession)
        return session

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)

    def __getitem__(self, key: str) -> Any:
        return self.session[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.session[key] = value

    def __delitem__(self, key: str) -> None:
        del self.session[key]

    def __contains__(self, key: object) -> bool:
        return key in self.session

    def __iter__(self) -> Iterator[str]:
        return iter(self.session)

    def __len__(self) -> int:
        return len(self.session)

    def do_persist(self) -> None:
        self.session.save()
        if self.session.session_key is not None:
            self._token = self.session.session_key

    def from_redis(self) -> dict[str, Any]:
        stored = self._open(self._token)
        stored.load()
        created = stored.created_at
        return {
            "m": dict(stored),
            "c": created.timestamp() if created else None,
            "t": stored.get_expiry_age(),
        }

    @property
    def timeout(self) -> int | float:
        return self.session.get_expiry_age()

    def adjust_session_timeout(self, seconds: int) -> None:
        self.session.set_expiry(seconds)

    adjust_timeout_for_session = adjust_session_timeout

    def iterkeys(self) -> Iterator[str]:
        return iter(self.session.keys())

    def itervalues(self) -> Iterator[Any]:
        return iter(self.session.values())

    def iteritems(self) -> Iterator[tuple[str, Any]]:
        return iter(self.session.items())


class _OnSessionary(TestRedisSession):
    __test__ = False  # the store-specific subclasses run

    def setUp(self) -> None:
        self.store_url = self.make_store_url()

    def make_store_url(self) -> str:
        raise NotImplementedError

    def _set_up_session_in_Redis_and_makeOne(
        self,
        session_id: str | None = None,
        session_dict: dict[str, Any] | None = None,
        new: bool = True,
        timeout: int = 300,
        detect_changes: bool = True,
    ) -> Any:
        # As upstream: a session already in the store (with the data asked for, and the
        # timeout as the app's session lifetime), then a request that brings its cookie.
        manager = SessionManager(self.store_url, cookie_age=timeout)
        self.addCleanup(manager.close)
        stored = manager.open(None, session_class=PyramidSession)
        stored.update(session_dict or {})
        stored.save()
        assert stored.session_key is not None
        return Adapted(manager, stored.session_key)


class TestPyramidSessionRedisTestsOnSQLite(_OnSessionary):
    __test__ = True

    def make_store_url(self) -> str:
        directory = tempfile.mkdtemp(prefix="sessionary-psr-")
        self.addCleanup(lambda: [p.unlink() for p in Path(directory).iterdir()])
        return f"sqlite:///{directory}/sessions.db"


class TestPyramidSessionRedisTestsOnRedis(_OnSessionary):
    __test__ = True

    def make_store_url(self) -> str:
        require_port("Redis", REDIS_HOST, REDIS_PORT)
        prefix = f"sessionary-test-psr-{secrets.token_hex(6)}:"
        self.addCleanup(self._drop, prefix)
        return f"{REDIS_URL}?prefix={prefix}"

    def _drop(self, prefix: str) -> None:
        import redis

        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT)
        try:
            keys = list(client.scan_iter(match=f"{prefix}*", count=500))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


for _name, _reason in NOT_APPLICABLE.items():
    assert hasattr(TestRedisSession, _name), _name  # a renamed upstream test is noticed
    setattr(_OnSessionary, _name, unittest.skip(f"not applicable: {_reason}")(lambda self: None))

del TestRedisSession  # run only through the adapter


# --- its app tests: a Pyramid app's requests through the session factory ----------------


def sessionary_web_app(store_url: str) -> Any:
    """pyramid-session-redis's test app (``web_app.py``, its views unchanged) with
    sessionary as the session factory instead, on Pyramid's default cookie name."""
    from pyramid.config import Configurator

    from sessionary.integrations.pyramid import REGISTRY_KEY, SessionaryFactory

    from .upstream.pyramid_session_redis import web_app

    config = Configurator()
    manager = SessionManager(store_url, cookie_name="session")
    config.registry[REGISTRY_KEY] = manager
    config.set_session_factory(SessionaryFactory(manager=manager, session_class=WithSessionId))
    for name in (
        "session_access__none",
        "session_access__set",
        "session_access__set_and_unset",
        "session_access__unset",
    ):
        config.add_route(name, f"/{name}")
        config.add_view(getattr(web_app, name), route_name=name)
    return config.make_wsgi_app()


class WithSessionId(PyramidSession):
    """The tests read ``session_id`` (and do nothing with it); sessionary keeps the token
    out of views, so here it is the token, for the tests alone."""

    @property
    def session_id(self) -> str | None:
        return self.session_key


# The tests check ``isinstance(request.session, RedisSession)``: here the session is sessionary's.
app_tests.RedisSession = WithSessionId


class _AppOnSessionary:
    """Mixed into the upstream app tests: sessionary's app in place of theirs."""

    make_store_url: Any

    def setUp(self) -> None:
        from webtest import TestApp

        self._pyramid_app = sessionary_web_app(self.make_store_url())
        self._testapp = TestApp(self._pyramid_app)


def _app_test_classes(store: type) -> list[type]:
    return [
        type(
            f"{upstream.__name__}On{store.__name__}", (_AppOnSessionary, store, upstream), {"__test__": True}
        )
        for upstream in (app_tests.Test_BasicSessionUsage,)
    ]


class _SQLiteURL:
    def make_store_url(self) -> str:
        directory = tempfile.mkdtemp(prefix="sessionary-psr-app-")
        return f"sqlite:///{directory}/sessions.db"


class _RedisURL:
    def make_store_url(self) -> str:
        require_port("Redis", REDIS_HOST, REDIS_PORT)
        prefix = f"sessionary-test-psr-app-{secrets.token_hex(6)}:"
        self.addCleanup(TestPyramidSessionRedisTestsOnRedis._drop, None, prefix)  # type: ignore[attr-defined]
        return f"{REDIS_URL}?prefix={prefix}"


for _cls in [*_app_test_classes(_SQLiteURL), *_app_test_classes(_RedisURL)]:
    globals()[f"Test{_cls.__name__}"] = _cls
del _cls

APP_TESTS_NOT_RUN = {
    "Test_InvalidateEmptySession_True": (
        "invalidate_empty_session=True deletes a session whose last key a view deleted; sessionary "
        "keeps it stored, as Django does (a session is deleted by invalidate(), flush() or logout())"
    ),
    "Test_InvalidateEmptySession_False": (
        "invalidate_empty_session=False keeps such a session and sends no cookie; sessionary keeps "
        "it and sends the cookie again, as Django does for a modified session"
    ),
    "Test_InvalidateEmptySession_Unconfigured": "checks pyramid-session-redis's own default constant",
}
del app_tests.Test_BasicSessionUsage, app_tests.Test_InvalidateEmptySession_True
del app_tests.Test_InvalidateEmptySession_False, app_tests.Test_InvalidateEmptySession_Unconfigured
