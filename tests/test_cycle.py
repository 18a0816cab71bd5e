"""The pure request cycle as a table: a session's state and an event in, the store
operations it asks for (with the store's scripted answers) and the outcome out.

No store, no clock, no randomness: every moment and every fresh token is given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from sessionary import cycle, expiry
from sessionary.config import Config
from sessionary.cycle import Context, Outcome
from sessionary.errors import SessionInterrupted, StoreError
from sessionary.events import CREATED, EXPIRED, REJECTED, ROTATED
from sessionary.ops import Create, Decode, Delete, Emit, Encode, Load, Rotate, Touch, Write
from sessionary.state import SessionState
from sessionary.stores.base import Meta, Record, Rotation
from sessionary.tokens import store_key

NOW = 1_000_000.0
AGE = 1000
TOKEN = "A" * 43
OTHER = "B" * 43
FRESH = ["C" * 43, "D" * 43, "E" * 43]


def meta(
    at: float = NOW - 100, *, saved_deadline: float | None = None, issued_at: float | None = None
) -> Meta:
    return Meta(
        created_at=at,
        issued_at=at if issued_at is None else issued_at,
        last_seen=at,
        saved_deadline=at + AGE if saved_deadline is None else saved_deadline,
    )


def record(token: str = TOKEN, data: dict[str, Any] | None = None, **meta_fields: Any) -> Record:
    stored = meta(**meta_fields)
    return Record(store_key(token), {"a": 1} if data is None else data, stored, stored.saved_deadline)


def loaded(token: str = TOKEN, **record_fields: Any) -> SessionState:
    """A session whose cookie named a live record, already read."""
    state = SessionState(token, had_cookie=True)
    state.adopt(token, record(token, **record_fields), via_alias=False)
    state.accessed = True
    return state


def context(*, client_side: bool = False, **settings: Any) -> Context:
    settings.setdefault("cookie_age", AGE)
    settings.setdefault("absolute_timeout", None)
    return Context(Config(**settings), "test://", client_side=client_side)


def fresh_tokens() -> Callable[[], str]:
    return iter(FRESH).__next__


def play(steps: Any, answers: list[Any]) -> tuple[Any, list[Any]]:
    """Run ``steps`` with the store answering ``answers`` in turn (events are answered
    None without taking one): the value it returns and every operation it yielded."""
    ops: list[Any] = []
    if not hasattr(steps, "send"):
        return steps, ops
    pending: Iterator[Any] = iter(answers)
    answer = None
    while True:
        try:
            op = steps.send(answer)
        except StopIteration as done:
            assert next(pending, None) is None, "the step ended with store answers left"
            return done.value, ops
        ops.append(op)
        answer = None if isinstance(op, Emit) else next(pending)


def kinds(ops: list[Any]) -> list[str]:
    return [f"{type(op).__name__}:{op.kind}" if isinstance(op, Emit) else type(op).__name__ for op in ops]


# --- the end of a request ------------------------------------------------------------------


@dataclass
class Case:
    state: Callable[[], SessionState]
    answers: list[Any]
    ops: list[str]
    set_cookie: str | None  # "token:<value>", "delete" or None
    vary: bool
    settings: dict[str, Any] = field(default_factory=dict)
    status: int = 200
    direct: bool = False  # the outcome is returned without any step


def _untouched() -> SessionState:
    return SessionState()


def _cookie_unused() -> SessionState:
    return SessionState(TOKEN, had_cookie=True)


def _rejected() -> SessionState:
    state = SessionState(TOKEN, had_cookie=True)
    state.reject()
    state.accessed = True
    return state


def _new_with_data() -> SessionState:
    state = SessionState()
    state.data = {}
    state.data["cart"] = ["book"]
    state.mark_set("cart")
    state.modified = True
    state.accessed = True
    return state


def _written() -> SessionState:
    state = loaded()
    assert state.data is not None
    state.data["b"] = 2
    state.mark_set("b")
    state.modified = True
    return state


IDLE = {"idle_timeout": 600}


def _read_late() -> SessionState:
    """Read 500 s after the last recorded activity, with a 600 s idle timeout: the stored
    deadline (the idle one) lags enough for a touch."""
    state = loaded(at=NOW - 500, saved_deadline=NOW + 5000)
    assert state.record is not None
    state.record = replace(state.record, expires_at=NOW + 100)
    return state


def _renewal_due() -> SessionState:
    return loaded(at=NOW - 100, issued_at=NOW - 4000)


def _failed() -> SessionState:
    state = loaded()
    state.failure = StoreError("test://", "down")
    return state


CASES = {
    "no cookie, session unused": Case(_untouched, [], [], None, False, direct=True),
    "cookie sent, session unused": Case(_cookie_unused, [], [], None, False, direct=True),
    "cookie named no live session": Case(_rejected, [], [], "delete", True, direct=True),
    "session read, touch not due": Case(loaded, [], [], None, True, direct=True),
    "session read, touch due": Case(_read_late, [True], ["Touch"], None, True, settings=IDLE),
    "session read, touched record gone": Case(_read_late, [False], ["Touch"], None, True, settings=IDLE),
    "session read, 500": Case(loaded, [], [], None, True, status=500, direct=True),
    "keys set on a new session": Case(
        _new_with_data, [True], ["Create", "Emit:created"], f"token:{FRESH[0]}", True
    ),
    "new session, first token taken": Case(
        _new_with_data, [False, True], ["Create", "Create", "Emit:created"], f"token:{FRESH[1]}", True
    ),
    "keys set on a stored session": Case(_written, [True], ["Write"], f"token:{TOKEN}", True),
    "save every request, throttled": Case(
        loaded, [], [], f"token:{TOKEN}", True, settings={"save_every_request": True}, direct=True
    ),
    "save every request, touch due": Case(
        _read_late, [True], ["Touch"], f"token:{TOKEN}", True, settings={**IDLE, "save_every_request": True}
    ),
    "save every request, renewal due": Case(
        _renewal_due,
        [Rotation.ROTATED],
        ["Rotate", "Emit:rotated"],
        f"token:{FRESH[0]}",
        True,
        settings={"renewal_timeout": 3600, "save_every_request": True},
    ),
    "save every request, 500": Case(
        loaded, [], [], None, True, status=500, settings={"save_every_request": True}
    ),
    "read, renewal due": Case(
        _renewal_due,
        [Rotation.ROTATED],
        ["Rotate", "Emit:rotated"],
        f"token:{FRESH[0]}",
        True,
        settings={"renewal_timeout": 3600},
    ),
    "read, renewal collides once": Case(
        _renewal_due,
        [Rotation.COLLISION, Rotation.ROTATED],
        ["Rotate", "Rotate", "Emit:rotated"],
        f"token:{FRESH[1]}",
        True,
        settings={"renewal_timeout": 3600},
    ),
    "read, renewed elsewhere first": Case(
        _renewal_due, [Rotation.GONE], ["Rotate"], None, True, settings={"renewal_timeout": 3600}
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_close(name: str) -> None:
    case = CASES[name]
    state = case.state()
    steps = cycle.close(state, context(**case.settings), case.status, lambda: NOW, fresh_tokens())
    assert isinstance(steps, Outcome) is case.direct
    outcome, ops = play(steps, case.answers)
    assert kinds(ops) == case.ops
    assert isinstance(outcome, Outcome)
    if case.set_cookie is None:
        assert outcome.set_cookie is None
    elif case.set_cookie == "delete":
        assert outcome.set_cookie is not None and "Max-Age=0" in outcome.set_cookie
    else:
        name = context(**case.settings).config.session_cookie_name
        assert outcome.set_cookie is not None
        assert outcome.set_cookie.startswith(f"{name}={case.set_cookie.removeprefix('token:')};")
    assert outcome.vary_cookie is case.vary


def test_close_of_a_failed_request_raises_the_failure() -> None:
    state = _failed()
    with pytest.raises(StoreError):
        cycle.close(state, context(), 500, lambda: NOW, fresh_tokens())


def test_close_reads_no_clock_when_no_store_call_is_needed() -> None:
    def no_clock() -> float:
        raise AssertionError("the clock was read")

    assert cycle.close(_cookie_unused(), context(), 200, no_clock, fresh_tokens()) == Outcome()


def test_a_write_that_finds_the_session_gone_is_interrupted_and_writes_nothing_else() -> None:
    steps = cycle.close(_written(), context(), 200, lambda: NOW, fresh_tokens())
    with pytest.raises(SessionInterrupted):
        play(steps, [False])


def test_the_write_carries_only_the_changed_key_and_the_new_deadline() -> None:
    state = _written()
    _, ops = play(cycle.close(state, context(), 200, lambda: NOW, fresh_tokens()), [True])
    (write,) = ops
    assert isinstance(write, Write)
    assert write.key == store_key(TOKEN)
    assert write.change.set == {"b": "2"}
    assert write.change.removed == frozenset()
    assert write.change.expires_at == NOW + AGE
    assert write.change.meta["last_seen"] == NOW
    assert state.record is not None and state.record.expires_at == NOW + AGE
    assert state.changed == frozenset()


def test_a_touch_moves_activity_and_deadline_forward() -> None:
    state = _read_late()
    _, ops = play(cycle.close(state, context(**IDLE), 200, lambda: NOW, fresh_tokens()), [True])
    assert ops == [Touch(store_key(TOKEN), NOW, NOW + 5000, NOW + 600, NOW)]
    assert state.record is not None
    assert (state.record.meta.last_seen, state.record.expires_at) == (NOW, NOW + 600)


def test_renewal_keeps_the_old_token_as_an_alias_for_the_grace() -> None:
    state = _renewal_due()
    _, ops = play(
        cycle.close(state, context(renewal_timeout=3600), 200, lambda: NOW, fresh_tokens()),
        [Rotation.ROTATED],
    )
    rotate, event = ops
    assert isinstance(rotate, Rotate)
    assert rotate.old_key == store_key(TOKEN)
    assert rotate.record.key == store_key(FRESH[0])
    assert rotate.grace_until == NOW + 30
    assert rotate.record.meta.issued_at == NOW
    assert rotate.record.meta.created_at == NOW - 100  # the history stays
    assert event == Emit(ROTATED, store_key(TOKEN), None, None, store_key(FRESH[0]))
    assert state.token == FRESH[0]


def test_a_client_side_store_encodes_instead_of_storing() -> None:
    state = _new_with_data()
    outcome, ops = play(
        cycle.close(state, context(client_side=True), 200, lambda: NOW, fresh_tokens()), ["signed-value"]
    )
    assert kinds(ops) == ["Encode", "Emit:created"]
    assert isinstance(ops[0], Encode) and ops[0].record.data == {"cart": ["book"]}
    name = context().config.session_cookie_name
    assert outcome.set_cookie is not None and outcome.set_cookie.startswith(f"{name}=signed-value;")


# --- load ----------------------------------------------------------------------------------


def test_load_adopts_the_first_presented_token_that_names_a_live_record() -> None:
    state = SessionState(TOKEN, candidates=[OTHER], had_cookie=True)
    live = record(OTHER)
    _, ops = play(cycle.load(state, context(), NOW, fresh_tokens()), [None, live])
    assert ops == [Load(store_key(TOKEN), NOW), Load(store_key(OTHER), NOW)]
    assert state.token == OTHER and state.record is live and state.data is live.data
    assert not state.via_alias and state.candidates == ()


def test_load_refuses_a_record_dead_under_todays_config() -> None:
    state = SessionState(TOKEN, had_cookie=True)
    stale = record(at=NOW - 700)
    _, ops = play(cycle.load(state, context(idle_timeout=600), NOW, fresh_tokens()), [stale])
    assert kinds(ops) == ["Load", "Emit:expired", "Emit:rejected"]
    assert ops[1] == Emit(EXPIRED, stale.key, None, "timeout")
    assert ops[2].kind == REJECTED and ops[2].key == store_key(TOKEN)
    assert state.token is None and state.data == {} and state.record is None


def test_load_through_a_renewal_alias_notes_it() -> None:
    state = SessionState(TOKEN, had_cookie=True)
    play(cycle.load(state, context(), NOW, fresh_tokens()), [record(OTHER)])
    assert state.via_alias and state.token == TOKEN


def test_load_on_a_client_side_store_decodes_the_cookie() -> None:
    state = SessionState("signed", had_cookie=True)
    _, ops = play(
        cycle.load(state, context(client_side=True), NOW, fresh_tokens()), [replace(record(), key=b"")]
    )
    assert ops == [Decode("signed", NOW)]
    assert not state.via_alias


# --- the rules the Django engine shares ----------------------------------------------------


def test_the_fresh_token_loop_gives_up_after_its_attempts() -> None:
    tokens = iter(f"{n:043d}" for n in range(cycle.ATTEMPTS + 1)).__next__
    steps = cycle.claim_fresh_token(lambda token: Create(record(token), NOW), tokens, "test://")
    with pytest.raises(StoreError, match=f"after {cycle.ATTEMPTS} fresh tokens"):
        play(steps, [False] * cycle.ATTEMPTS)


def test_the_fresh_token_loop_returns_the_token_and_answer_that_won() -> None:
    steps = cycle.claim_fresh_token(
        lambda token: Rotate(b"old", record(token), None, NOW), fresh_tokens(), "test://"
    )
    (token, op, answer), ops = play(steps, [Rotation.COLLISION, Rotation.GONE])
    assert (token, answer) == (FRESH[1], Rotation.GONE)
    assert op is ops[-1]


@pytest.mark.parametrize(
    ("stored_deadline", "due"),
    [(NOW + AGE, False), (NOW + AGE * 0.8, False), (NOW + AGE * 0.7, True), (NOW, True)],
)
def test_the_touch_throttle(stored_deadline: float, due: bool) -> None:
    """A touch is due once it would extend the deadline by a quarter of the window."""
    stored = replace(record(), expires_at=stored_deadline)
    activity = meta(NOW, saved_deadline=NOW + AGE)
    refreshed = cycle.refresh_due(
        stored, last_seen=NOW, saved_deadline=NOW + AGE, browser_close=False, config=context().config, now=NOW
    )
    assert (refreshed is not None) is due
    if refreshed is not None:  # the metadata a touch writes, and the deadline it gives
        assert refreshed == (replace(stored.meta, last_seen=NOW, saved_deadline=NOW + AGE), NOW + AGE)
        assert refreshed[1] == expiry.deadline(activity, browser_close=False, config=context().config)


def test_a_deleted_session_forgets_its_token_and_pending_changes() -> None:
    state = _written()
    _, ops = play(cycle.delete(state, context()), [True])
    assert ops == [Delete(store_key(TOKEN))]
    assert state.token is None and state.record is None and state.changed == frozenset()


def test_created_session_is_reported_with_its_user() -> None:
    state = _new_with_data()
    state.set_meta(user_id="u1", auth_at=NOW)
    _, ops = play(cycle.save(state, context(), NOW, fresh_tokens()), [True])
    create, event = ops
    assert isinstance(create, Create) and create.record.meta.user_id == "u1"
    assert event == Emit(CREATED, store_key(FRESH[0]), "u1")
