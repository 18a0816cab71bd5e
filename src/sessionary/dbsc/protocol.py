"""Device Bound Session Credentials (W3C WebAppSec draft), on a sessionary session.

What the protocol decides, framework-neutral and without I/O: every mount (one file per
framework in this package) loads the session when :func:`must_load` says, sends what
:func:`answer` returns instead of the app's response, and otherwise adds
:func:`announce`'s header to the app's (:mod:`sessionary.dbsc.mount` runs these steps
on a sessionary session, sync or async). The binding lives in the session's own data under
``_dbsc`` (so it works on every server-side store and ends with the session):

1. A response to a signed-in session that is not bound yet carries
   ``Secure-Session-Registration: (ES256 RS256);path="…/register";challenge="…"``.
   Browsers without DBSC ignore it and nothing else changes for them.
2. The browser makes a key pair and POSTs a self-signed proof of the challenge
   (``Secure-Session-Response``); the registration endpoint verifies it, stores the
   public key and answers the session config JSON with a short-lived *bound cookie*.
3. From then on every request of the session must carry a live bound cookie. When it
   expires, the browser holds its requests back and calls the refresh endpoint, which
   answers ``403`` with ``Secure-Session-Challenge`` and then, for a proof signed with
   the registered key, a new bound cookie. The refresh also renews the session token
   with the usual grace alias, and the previous bound cookie stays good for the same
   grace, so requests already in flight with the old cookies still land.

A thief who copies the cookies has the bound cookie for minutes at most and cannot
refresh it without the private key, which the browser keeps (in a TPM where it can).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .. import cookies
from .proof import ALGORITHMS, ProofError, parse, public_jwk, registration_key, verify

if TYPE_CHECKING:
    from ..config import Config

STATE_KEY = "_dbsc"
REGISTRATION_HEADER = "Secure-Session-Registration"
CHALLENGE_HEADER = "Secure-Session-Challenge"
RESPONSE_HEADERS = ("secure-session-response", "sec-secure-session-response")
SESSION_ID_HEADER = "sec-secure-session-id"


@dataclass(frozen=True)
class DBSCConfig:
    """Where the endpoints are mounted and how long a bound cookie lives."""

    prefix: str = "/.well-known/sessionary/dbsc"
    bound_cookie_age: int = 600
    """Seconds a bound cookie lives; a stolen one is worth at most this long."""
    challenge_age: int = 300
    """Seconds a challenge may be answered."""
    algorithms: tuple[str, ...] = ALGORITHMS

    @property
    def registration_path(self) -> str:
        return f"{self.prefix}/register"

    @property
    def refresh_path(self) -> str:
        return f"{self.prefix}/refresh"


@dataclass
class Reply:
    """A response the endpoints (or the bound-cookie check) send instead of the app's."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    rotate: bool = False
    """Renew the session token (with its grace alias) before answering."""


class Bindable(Protocol):
    """What the protocol needs of a session, already loaded: a sessionary
    :class:`~sessionary.session.Session`, or the Django engine's session seen through
    :mod:`sessionary.dbsc.django`."""

    @property
    def session_key(self) -> str | None: ...

    @property
    def user_id(self) -> str | None: ...

    def get(self, key: str, default: Any = None) -> Any: ...

    def __setitem__(self, key: str, value: Any) -> None: ...


def bound_cookie_name(config: Config) -> str:
    return f"{config.session_cookie_name}-bound"


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode("ascii", "replace")).hexdigest()


def state(session: Bindable) -> dict[str, Any] | None:
    value = session.get(STATE_KEY)
    return value if isinstance(value, dict) else None


def is_bound(session: Bindable) -> bool:
    current = state(session)
    return current is not None and current.get("status") == "bound"


def announce(session: Bindable, dbsc: DBSCConfig, now: float) -> str | None:
    """The registration header's value for a signed-in session that was never offered DBSC
    (the offer is kept in the session, so the session must be saved after this)."""
    if session.user_id is None or state(session) is not None:
        return None
    challenge = secrets.token_urlsafe(32)
    session[STATE_KEY] = {"status": "offered", "challenge": challenge, "challenge_at": now}
    algorithms = " ".join(dbsc.algorithms)
    return f'({algorithms});path="{dbsc.registration_path}";challenge="{challenge}"'


def _proof_header(headers: dict[str, str]) -> str | None:
    for name in RESPONSE_HEADERS:
        if name in headers:
            return headers[name]
    return None


def _bound_cookie(config: Config, dbsc: DBSCConfig, token: str) -> str:
    attributes = f"Max-Age={dbsc.bound_cookie_age}; Path=/; Secure; HttpOnly; SameSite=Lax"
    return f"{bound_cookie_name(config)}={token}; {attributes}"


def _instructions(config: Config, dbsc: DBSCConfig, session_id: str) -> bytes:
    """The session config JSON the registration (and refresh) endpoint answers."""
    body = {
        "session_identifier": session_id,
        "refresh_url": dbsc.refresh_path,
        "scope": {"include_site": False, "scope_specification": []},
        "credentials": [
            {
                "type": "cookie",
                "name": bound_cookie_name(config),
                "attributes": "Path=/; Secure; HttpOnly; SameSite=Lax",
            }
        ],
    }
    return json.dumps(body, separators=(",", ":")).encode()


def _json(status: int, body: bytes, *extra: tuple[str, str]) -> Reply:
    headers = [("Content-Type", "application/json"), ("Cache-Control", "no-store"), *extra]
    return Reply(status, headers, body)


def _refused(status: int, reason: str) -> Reply:
    body = json.dumps({"error": reason}).encode()
    return _json(status, body)


def _new_binding(
    current: dict[str, Any], dbsc: DBSCConfig, now: float, grace: int
) -> tuple[dict[str, Any], str]:
    token = secrets.token_urlsafe(32)
    updated = dict(current)
    previous = current.get("bound")
    updated.update(
        status="bound",
        bound=_hash(token),
        bound_until=now + dbsc.bound_cookie_age,
        previous=previous,
        previous_until=now + grace if previous else None,
        challenge=None,
        challenge_at=None,
    )
    return updated, token


def register(
    session: Bindable, headers: dict[str, str], config: Config, dbsc: DBSCConfig, now: float
) -> Reply:
    """The registration endpoint: verify the self-signed proof of the offered challenge."""
    current = state(session)
    if session.user_id is None or current is None:
        return _refused(401, "no signed-in session was offered device binding")
    if current.get("status") != "offered":
        return _refused(409, "this session is bound already")
    token = _proof_header(headers)
    if token is None:
        return _refused(400, "Secure-Session-Response is missing")
    try:
        proof = parse(token)
        jwk = registration_key(proof)
        verify(proof, jwk)
    except ProofError as error:
        return _refused(400, f"proof refused: {error}")
    if proof.header["alg"] not in dbsc.algorithms:
        return _refused(400, f"proof refused: {proof.header['alg']} is not offered")
    if not _fresh_challenge(current, proof.challenge, dbsc, now):
        return _refused(400, "proof refused: it does not answer this session's challenge")
    binding, bound_token = _new_binding(current, dbsc, now, 0)
    binding.update(id=secrets.token_urlsafe(16), jwk=public_jwk(jwk), alg=proof.header["alg"])
    session[STATE_KEY] = binding
    cookie = ("Set-Cookie", _bound_cookie(config, dbsc, bound_token))
    return _json(200, _instructions(config, dbsc, binding["id"]), cookie)


def _fresh_challenge(current: dict[str, Any], answered: str | None, dbsc: DBSCConfig, now: float) -> bool:
    challenge = current.get("challenge")
    issued = current.get("challenge_at")
    return (
        isinstance(challenge, str)
        and isinstance(answered, str)
        and isinstance(issued, int | float)
        and now - issued <= dbsc.challenge_age
        and hmac.compare_digest(challenge, answered)
    )


def refresh(
    session: Bindable, headers: dict[str, str], config: Config, dbsc: DBSCConfig, now: float, grace: int
) -> Reply:
    """The refresh endpoint: a challenge first, then a new bound cookie for a proof
    signed with the registered key (and a renewed session token)."""
    current = state(session)
    if current is None or current.get("status") != "bound":
        return _refused(401, "no device-bound session")
    session_id = str(current.get("id"))
    presented = headers.get(SESSION_ID_HEADER)
    if presented is not None and presented.strip('"') != session_id:
        return _refused(400, "Sec-Secure-Session-Id names another session")
    token = _proof_header(headers)
    if token is None:
        challenge = secrets.token_urlsafe(32)
        session[STATE_KEY] = {**current, "challenge": challenge, "challenge_at": now}
        return Reply(
            403,
            [(CHALLENGE_HEADER, f'"{challenge}";id="{session_id}"'), ("Cache-Control", "no-store")],
        )
    try:
        proof = parse(token)
        if "jwk" in proof.header and proof.header["jwk"] != current.get("jwk"):
            raise ProofError("a refresh proof must not bring another key")
        verify(proof, current["jwk"], current.get("alg"))
    except ProofError as error:
        return _refused(400, f"proof refused: {error}")
    if not _fresh_challenge(current, proof.challenge, dbsc, now):
        return _refused(400, "proof refused: it does not answer the current challenge")
    binding, bound_token = _new_binding(current, dbsc, now, grace)
    session[STATE_KEY] = binding
    cookie = ("Set-Cookie", _bound_cookie(config, dbsc, bound_token))
    reply = _json(200, _instructions(config, dbsc, session_id), cookie)
    reply.rotate = True
    return reply


def allows(session: Bindable, cookie_header: str | None, config: Config, now: float) -> bool:
    """Whether a request may use a bound session: it carries a live bound cookie (the
    current one, or the previous one within the refresh's grace)."""
    current = state(session)
    if current is None or current.get("status") != "bound":
        return True
    for value in cookies.cookie_values(cookie_header, bound_cookie_name(config)):
        digest = _hash(value)
        if hmac.compare_digest(digest, str(current.get("bound"))) and now < float(
            current.get("bound_until") or 0
        ):
            return True
        previous = current.get("previous")
        if (
            previous
            and hmac.compare_digest(digest, str(previous))
            and now < float(current.get("previous_until") or 0)
        ):
            return True
    return False


def refresh_needed(config: DBSCConfig) -> Reply:
    """What a request of a bound session without a live bound cookie gets: no session."""
    body = b'{"error":"this session is bound to a device: refresh its credentials first"}'
    return Reply(401, [("Content-Type", "application/json"), ("Cache-Control", "no-store")], body)


def is_endpoint(path: str, dbsc: DBSCConfig) -> bool:
    return path in (dbsc.registration_path, dbsc.refresh_path)


def must_load(session_key: str | None, method: str, path: str, dbsc: DBSCConfig) -> bool:
    """Whether a mount loads the session before :func:`answer` (a POST to an endpoint,
    or any request with a session cookie: its binding is checked)."""
    if is_endpoint(path, dbsc):
        return method == "POST"
    return session_key is not None


def answer(
    session: Bindable,
    method: str,
    path: str,
    headers: dict[str, str],
    config: Config,
    dbsc: DBSCConfig,
    now: float,
) -> Reply | None:
    """What a mount sends instead of the app's response, before the app runs: the
    endpoints' answers, or the refusal of a bound session without a live bound cookie;
    ``None``: let the app answer (then add :func:`announce`'s header). ``headers`` are
    the request's, names lower-cased; the session is loaded when :func:`must_load` said."""
    if is_endpoint(path, dbsc):
        if method != "POST":
            return Reply(405, [("Allow", "POST")])
        if path == dbsc.registration_path:
            return register(session, headers, config, dbsc, now)
        return refresh(session, headers, config, dbsc, now, config.renewal_grace)
    if session.session_key is not None and not allows(session, headers.get("cookie"), config, now):
        return refresh_needed(dbsc)
    return None


def request_headers(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """A request's headers as :func:`answer` takes them: names lower-cased, repeated
    ones joined (``Cookie`` with ``; ``, as RFC 9113 §8.2.3 joins split cookies)."""
    found: dict[str, str] = {}
    for name, value in pairs:
        name = name.lower()
        if name in found:
            found[name] += ("; " if name == "cookie" else ", ") + value
        else:
            found[name] = value
    return found
