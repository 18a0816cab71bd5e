"""Named presets (issue 17, item 6): each one's timeouts hold over HTTP, on every store."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import UTC, datetime

import pytest
from hardening_apps import Site

from sessionary import ConfigError, SessionManager, presets
from sessionary.stores import Store
from sessionary.testing import FakeClock


def test_unknown_presets_are_named() -> None:
    with pytest.raises(ConfigError, match=r"'aal2' is not a preset .*nist-aal2"):
        presets.config("aal2")


def test_overrides_are_validated_like_any_config() -> None:
    assert presets.config("nist-aal2", idle_timeout=1800).idle_timeout == 1800
    with pytest.raises(ConfigError, match="cookie_host_prefix"):
        presets.config("nist-aal2", cookie_domain="example.com")


@pytest.mark.parametrize(
    ("name", "idle", "absolute"),
    [("nist-aal1", None, 30 * 86400), ("nist-aal2", 3600, 86400), ("nist-aal3", 900, 43200)],
)
def test_presets_end_sessions_as_nist_800_63b_4_asks(
    store: Store, name: str, idle: int | None, absolute: int
) -> None:
    """NIST SP 800-63B-4 §5.2: the overall and inactivity timeouts of each level, and a
    ``__Host-`` cookie that ends with the browser from AAL2 up."""
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    manager = SessionManager(store, presets.config(name), clock=clock)
    with ExitStack() as stack:
        site = Site("starlette", manager, stack)
        reply = site.get("/login", user="alice")
        (cookie,) = reply.set_cookies
        assert cookie.startswith("__Host-sessionid=")
        assert ("Max-Age" not in cookie) == (name != "nist-aal1")
        token = site.token_of(reply)
        if idle is not None:
            clock.advance(idle - 1)
            reply = site.get("/read", token=token)
            assert reply.text == "user=alice"
            token = site.token_of(reply) or token  # renewal may hand out a new token
            clock.advance(idle + 1)
            assert site.get("/read", token=token).text == "user=-", "inactivity timeout"
            token = site.token_of(site.get("/login", user="alice"))
        # Active all along, the session still ends at the overall timeout.
        step = (idle or absolute) // 2
        elapsed = 0
        while elapsed + step < absolute:
            clock.advance(step)
            elapsed += step
            reply = site.get("/read", token=token)
            assert reply.text == "user=alice", elapsed
            token = site.token_of(reply) or token
        clock.advance(absolute - elapsed)
        assert site.get("/read", token=token).text == "user=-", "overall timeout"
