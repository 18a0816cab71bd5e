"""Device Bound Session Credentials on Django: the tests of tests/test_dbsc.py through
``sessionary.dbsc.django.DBSCMiddleware`` and Django's own test client, on the sessionary
engine on every store and on Django's own ``db`` backend, with ``django.contrib.auth``
signing in (tests/djangotests/dbsc_urls.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.test.utils import override_settings
from test_dbsc import (  # noqa: F401  (collected here, on this module's make_site)
    test_a_bad_registration_proof_binds_nothing,
    test_a_thief_with_every_cookie_but_no_key_is_refused_once_the_bound_cookie_expires,
    test_an_in_flight_request_with_the_cookies_from_before_a_refresh,
    test_browsers_without_dbsc_are_unaffected,
    test_logout_ends_the_binding_with_the_session,
    test_sign_in_binds_the_session_and_refreshes_keep_it_going,
    test_the_endpoints_answer_only_post_and_only_an_offered_session,
    test_the_session_cookie_alone_is_refused,
)

from sessionary.dbsc.protocol import DBSCConfig
from support.sites import Reply, SiteClient

from .conftest import STORES, DjangoClock, Engines
from .test_hardening import reply

MIDDLEWARE = [
    "sessionary.django.middleware.SessionMiddleware",
    "sessionary.dbsc.django.DBSCMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]


class DjangoSite(SiteClient):
    """``hardening_apps.Site``'s interface (``support.sites.SiteClient``) on the Django engine (a fresh client per
    request: the browser holds the cookies)."""

    renews_token = False
    """A refresh keeps the session key (see sessionary.dbsc.django)."""

    def __init__(self, clock: DjangoClock) -> None:
        self.framework = "django"
        self.manager = SimpleNamespace(clock=clock)
        self.cookie_name = settings.SESSION_COOKIE_NAME

    def send(self, method: str, target: str, headers: dict[str, str]) -> Reply:
        return reply(Client().generic(method, target, secure=True, headers=headers))


@pytest.fixture(params=[*STORES, "db"])
def store_name(request: pytest.FixtureRequest) -> str:
    """Every store of the sessionary engine, and Django's ``db`` backend."""
    name: str = request.param
    return name


@pytest.fixture
def clock(djclock: DjangoClock) -> DjangoClock:
    return djclock


@pytest.fixture
def make_site(engines: Engines, store_name: str, djclock: DjangoClock) -> Iterator[Callable[..., DjangoSite]]:
    with override_settings(
        MIDDLEWARE=MIDDLEWARE,
        ROOT_URLCONF="djangotests.dbsc_urls",
        SESSION_COOKIE_NAME="__Host-sessionid",
        SESSION_COOKIE_SECURE=True,
    ):

        def build(renewal_grace: int = 30) -> DjangoSite:
            stack = engines.activate(store_name, SESSIONARY_REUSE_GRACE=renewal_grace)
            stack.__enter__()
            opened.append(stack)
            return DjangoSite(djclock)

        opened: list[Any] = []
        try:
            yield build
        finally:
            for stack in reversed(opened):
                stack.__exit__(None, None, None)


def test_the_endpoints_paths_follow_sessionary_dbsc(
    make_site: Callable[..., DjangoSite], djclock: DjangoClock
) -> None:
    """``SESSIONARY_DBSC`` moves the endpoints; the old paths are the app's again (404)."""
    site = make_site()
    with override_settings(SESSIONARY_DBSC=DBSCConfig(prefix="/device")):
        offer = site.get("/login", user="alice").header("secure-session-registration")
        assert offer is not None and 'path="/device/register"' in offer
        assert site.request("POST", "/.well-known/sessionary/dbsc/register").status == 404
