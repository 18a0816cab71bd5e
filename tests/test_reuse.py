"""Stolen-cookie detection (issue 17, item 1), on every store through every framework.

A token a rotation retired (sign-in, ``cycle_key``, renewal) that is presented again after
the rotation's grace means two parties held one cookie: the whole session ends, whichever
of them holds it now, and a ``token_reused`` event names it by keyed hashes only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any

import pytest
from hardening_apps import FRAMEWORKS, Site

from sessionary import Event, SessionManager
from sessionary.reuse import retired_key
from sessionary.stores import Store
from sessionary.testing import FakeClock
from sessionary.tokens import log_id, store_key

DETECT = {"detect_token_reuse": True, "renewal_grace": 5}


@pytest.fixture(params=FRAMEWORKS)
def framework(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def real_clock() -> FakeClock:
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


class Watched(Site):
    events: list[Event]

    def kinds(self) -> list[str]:
        return [event.kind for event in self.events]

    def reuses(self) -> list[Event]:
        return [event for event in self.events if event.kind == "token_reused"]

    def alive(self, token: str) -> bool:
        return self.manager.store.sync.load(store_key(token), self.manager.now()) is not None

    def sign_in(self, user: str = "alice", token: str | None = None) -> str:
        reply = self.get("/login", token=token, user=user)
        assert reply.status == 200, reply.text
        new = self.token_of(reply)
        assert new is not None
        return new


@pytest.fixture
def make_site(framework: str, store: Store, real_clock: FakeClock) -> Iterator[Callable[..., Watched]]:
    with ExitStack() as stack:

        def build(**settings: Any) -> Watched:
            events: list[Event] = []
            manager = SessionManager(store, clock=real_clock, on_event=events.append, **settings)
            made = Watched(framework, manager, stack)
            made.events = events
            return made

        yield build


def test_a_renewed_token_presented_after_its_grace_ends_the_whole_session(
    make_site: Callable[..., Watched], real_clock: FakeClock
) -> None:
    site = make_site(renewal_timeout=60, **DETECT)
    first = site.sign_in()
    real_clock.advance(61)
    reply = site.get("/read", token=first)
    renewed = site.token_of(reply)
    assert reply.text == "user=alice" and renewed not in (None, first)
    assert renewed is not None

    real_clock.advance(2)  # within the grace: a request already in flight, not a thief
    assert site.get("/read", token=first).text == "user=alice"
    assert site.reuses() == []

    real_clock.advance(10)  # the grace is over: whoever sends the old token copied it
    assert site.get("/read", token=first).text == "user=-"
    (event,) = site.reuses()
    assert event.session == log_id(store_key(first), site.manager.config.log_secret)
    assert event.new_session == log_id(store_key(renewed), site.manager.config.log_secret)
    assert event.user_id == "alice"
    assert not site.alive(renewed), "every token of the session is dead"
    assert site.get("/read", token=renewed).text == "user=-"
    assert site.manager.list_sessions("alice") == []


@pytest.mark.parametrize("rotation", ["login", "cycle"])
def test_a_token_retired_by_sign_in_or_cycle_key_is_reuse_after_the_grace(
    make_site: Callable[..., Watched], real_clock: FakeClock, rotation: str
) -> None:
    site = make_site(**DETECT)
    anonymous = site.token_of(site.get("/set"))
    assert anonymous is not None
    current = site.sign_in(token=anonymous)
    if rotation == "cycle":
        anonymous, current = current, site.token_of(site.get("/cycle", token=current)) or ""
    real_clock.advance(1)  # an in-flight request with the old token: just no session
    assert site.get("/read", token=anonymous).text == "user=-"
    assert site.reuses() == [] and site.alive(current)

    real_clock.advance(10)
    assert site.get("/read", token=anonymous).text == "user=-"
    assert len(site.reuses()) == 1
    assert not site.alive(current)


def test_whoever_presents_a_stolen_cookie_first_loses_the_session(
    make_site: Callable[..., Watched], real_clock: FakeClock
) -> None:
    """The thief uses the cookie first and gets the renewed token; the victim's browser
    then sends the old one: the thief's session ends too. With renewal_timeout a stolen
    cookie is worth at most renewal_timeout + renewal_grace to anyone."""
    site = make_site(renewal_timeout=60, **DETECT)
    stolen = site.sign_in()
    real_clock.advance(61)
    thief = site.token_of(site.get("/read", token=stolen))
    assert thief is not None
    real_clock.advance(30)
    assert site.get("/read", token=stolen).text == "user=-"  # the victim's browser
    assert site.get("/read", token=thief).text == "user=-"
    assert len(site.reuses()) == 1


def test_the_session_is_followed_through_later_rotations(
    make_site: Callable[..., Watched], real_clock: FakeClock
) -> None:
    site = make_site(renewal_timeout=60, **DETECT)
    tokens = [site.sign_in()]
    for _ in range(4):
        real_clock.advance(61)
        renewed = site.token_of(site.get("/read", token=tokens[-1]))
        assert renewed is not None
        tokens.append(renewed)
    real_clock.advance(10)
    assert site.get("/read", token=tokens[0]).text == "user=-"
    assert not site.alive(tokens[-1])


def test_reuse_can_end_every_session_of_the_user(
    make_site: Callable[..., Watched], real_clock: FakeClock
) -> None:
    site = make_site(reuse_ends_user_sessions=True, **DETECT)
    laptop = site.sign_in()
    phone_before = site.token_of(site.get("/set"))
    phone = site.sign_in(token=phone_before)
    other_user = site.sign_in("bob")
    real_clock.advance(10)
    assert site.get("/read", token=phone_before).text == "user=-"
    assert not site.alive(phone) and not site.alive(laptop)
    assert site.alive(other_user)
    (event,) = site.reuses()
    assert "every session of its user" in (event.reason or "")


def test_retired_tokens_are_forgotten_after_retired_token_memory(
    make_site: Callable[..., Watched], real_clock: FakeClock
) -> None:
    """Bounded in time (one record per rotation, each expiring on its own), and off the
    user's device list."""
    site = make_site(retired_token_memory=3600, **DETECT)
    anonymous = site.token_of(site.get("/set"))
    assert anonymous is not None
    current = site.sign_in(token=anonymous)
    assert site.manager.store.sync.exists(retired_key(store_key(anonymous)))
    assert [device.current for device in site.manager.list_sessions("alice")] == [False]
    real_clock.advance(3601)
    assert site.manager.store.sync.load(retired_key(store_key(anonymous)), site.manager.now()) is None
    assert site.get("/read", token=anonymous).text == "user=-"
    assert site.reuses() == []
    assert site.alive(current)


def test_without_the_setting_a_replayed_token_only_opens_nothing(
    make_site: Callable[..., Watched], real_clock: FakeClock
) -> None:
    site = make_site()
    anonymous = site.token_of(site.get("/set"))
    current = site.sign_in(token=anonymous)
    real_clock.advance(60)
    assert site.get("/read", token=anonymous).text == "user=-"
    assert site.reuses() == [] and site.alive(current)
    assert not site.manager.store.sync.exists(retired_key(store_key(anonymous or "")))


def test_events_of_reuse_carry_no_token(make_site: Callable[..., Watched], real_clock: FakeClock) -> None:
    site = make_site(**DETECT)
    anonymous = site.token_of(site.get("/set")) or ""
    current = site.sign_in(token=anonymous)
    real_clock.advance(10)
    site.get("/read", token=anonymous)
    (event,) = site.reuses()
    text = repr(event)
    for token in (anonymous, current):
        assert token not in text and store_key(token).hex() not in text
