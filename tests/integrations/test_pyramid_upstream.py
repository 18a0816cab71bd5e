"""Pyramid's own session tests (``tests/test_session.py`` of Pyramid 2.1's sdist, kept
unchanged in ``upstream/pyramid/``) run against sessionary's session factory.

Pyramid's ``SharedCookieSessionTests`` are the ones every Pyramid session factory is
held to; each runs here with ``_makeOne`` building a sessionary session for Pyramid's
``DummyRequest``. The tests of how Pyramid's cookie sessions encode, time out and
re-issue their cookie do not apply to a server-side session (its cookie holds only a
random token) and are listed in ``NOT_APPLICABLE`` with the reason, as
docs/frameworks.md says; the rest pass unchanged.
"""

from __future__ import annotations

import unittest
from typing import Any

from sessionary import SessionManager
from sessionary.integrations.pyramid import SessionaryFactory

from .upstream.pyramid.session_tests import SharedCookieSessionTests

COOKIE_FORMAT = "tests Pyramid's own cookie format (the session's data in a signed cookie)"
NOT_APPLICABLE = {
    "test_ctor_with_cookie_still_valid": COOKIE_FORMAT,
    "test_ctor_with_cookie_expired": COOKIE_FORMAT,
    "test_ctor_with_bad_cookie_not_tuple": COOKIE_FORMAT,
    "test_timeout": COOKIE_FORMAT,
    "test_timeout_never": COOKIE_FORMAT,
    "test_timeout_str": COOKIE_FORMAT,
    "test_timeout_invalid": "Pyramid's timeout= argument; sessionary's settings are cookie_age and idle_timeout",
    "test_reissue_triggered": COOKIE_FORMAT + " and its reissue_time",
    "test__set_cookie_on_exception": "Pyramid's private _set_cookie and _cookie_on_exception",
    "test__set_cookie_on_exception_no_request_exception": "Pyramid's private _set_cookie",
    "test__set_cookie_cookieval_too_long": "a server-side session has no size limit from its cookie",
    "test__set_cookie_real_webob_response": "Pyramid's private _set_cookie",
    "test__set_cookie_options": "Pyramid's private _set_cookie and its cookie arguments (sessionary: cookie_* settings)",
    "test_no_set_cookie_with_exception": "Pyramid's set_on_exception=False (sessionary saves unless the status is 5xx)",
}


class TestSessionaryWithPyramidsSessionTests(SharedCookieSessionTests, unittest.TestCase):  # type: ignore[misc]
    def setUp(self) -> None:
        self.manager = SessionManager("memory://", cookie_name="session")  # Pyramid's cookie name

    def tearDown(self) -> None:
        self.manager.close()

    def _makeOne(self, request: Any, **settings: Any) -> Any:
        # DummyRequest keeps cookies in a dict; a real request has them in its environ.
        cookies = "; ".join(f"{name}={value!s}" for name, value in request.cookies.items())
        if cookies:
            request.environ["HTTP_COOKIE"] = cookies
        return SessionaryFactory(manager=self.manager)(request)

    def test_changed(self) -> None:
        # Pyramid's test reads its private ``_dirty``; sessionary's flag is ``modified``.
        from pyramid import testing

        session = self._makeOne(testing.DummyRequest())
        assert session.changed() is None
        assert session.modified


for _name, _reason in NOT_APPLICABLE.items():
    assert hasattr(SharedCookieSessionTests, _name), _name  # a renamed upstream test is noticed
    setattr(
        TestSessionaryWithPyramidsSessionTests,
        _name,
        unittest.skip(f"not applicable: {_reason}")(lambda self: None),
    )
