"""Sessions that travel in the cookie itself, signed (``cookie://``).

Nothing is kept on the server: the cookie carries the session's data, its metadata and
its server-side deadline, signed with HMAC-SHA256 by itsdangerous (compressed with zlib
when that makes it shorter, as Django does). The deadline is inside the signature, so
``set_expiry``, the idle and absolute timeouts all hold on the server: a cookie replayed
after its deadline opens nothing, whatever its ``Max-Age`` said.

Keys come from ``Config.secret_keys``, newest first: new cookies are signed with the
first, and a cookie signed with any of them is accepted (rotation); it is re-signed with
the first the next time it is sent.

What this store cannot do, by design, is anything that needs server-side state: revoke
one session (logout drops the cookie in that browser, but a copy stays valid until its
deadline), list a user's sessions, refuse the replay of an older cookie of the same
session, clean up or count sessions. Those operations raise
:class:`~sessionary.errors.UnsupportedOperation`. See docs/store-cookie.md.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any, NoReturn
from urllib.parse import urlsplit

from itsdangerous import BadData, URLSafeSerializer
from itsdangerous.encoding import base64_decode, base64_encode

from .. import cookies, expiry
from ..clock import from_timestamp
from ..config import Config
from ..errors import ConfigError, CookieTooLarge, UnsupportedOperation
from ..serializer import decode_value, encode_stored
from . import Store
from .backend import Backend
from .base import META_FIELDS, Change, Counts, Meta, Record, Rotation, Summary, Swap

NAME = "cookie://"
SALT = "sessionary.stores.cookie"
FORMAT = 1
"""Version of the signed payload, so that a later layout can tell old cookies apart."""

_SPELLING = re.compile(r"[A-Za-z0-9_.-]+")
"""What a signed cookie is made of: URL-safe base64 parts joined by dots."""

_SERVER_SIDE = "use a server-side store (sqlite://, redis://, postgresql://) for that"


class _CompactJSON:
    """The JSON itsdangerous signs: compact, UTF-8, no NaN (the session serializer's rules)."""

    @staticmethod
    def dumps(obj: Any) -> str:
        return encode_stored(obj)

    @staticmethod
    def loads(text: str | bytes) -> Any:
        return decode_value(text)


class CookieCodec:
    """Turns a record into a signed cookie value and back (:class:`ClientSideCodec`)."""

    def __init__(self, config: Config) -> None:
        if not config.secret_keys:
            raise ConfigError(
                "secret_keys",
                "the cookie:// store signs sessions with Config.secret_keys, and none is set; "
                "pass at least one random key of 16+ characters (newest first), the same in every process",
            )
        self.config = config
        # itsdangerous signs with the *last* key and tries all; sessionary lists the newest first.
        self._serializer = URLSafeSerializer(
            list(reversed(config.secret_keys)),
            salt=SALT,
            serializer=_CompactJSON,
            signer_kwargs={"digest_method": hashlib.sha256},
        )

    def encode(self, record: Record) -> str:
        """The signed cookie value carrying ``record``; raises :class:`CookieTooLarge` when
        the ``Set-Cookie`` header sending it would exceed what browsers keep."""
        meta = {name: value for name, value in asdict(record.meta).items() if value is not None}
        payload = {"v": FORMAT, "d": record.data, "m": meta, "e": record.expires_at}
        value = self._serializer.dumps(payload)
        size = len(self._set_cookie(record, value).encode("utf-8"))
        if size > cookies.MAX_COOKIE_BYTES:
            raise CookieTooLarge(
                size,
                cookies.MAX_COOKIE_BYTES,
                advice="the cookie:// store carries the whole session in the cookie, so keep less "
                "in the session (large data server-side, only its id in the session) or "
                "use a server-side store (sqlite://, redis://, postgresql://)",
            )
        return value

    def decode(self, token: str, now: float) -> Record | None:
        """The record a cookie carries, or None when it is forged, tampered with, truncated,
        signed with a key no longer listed, or past its deadline."""
        if not _as_signed(token):
            return None
        try:
            payload = self._serializer.loads(token)
        except (BadData, UnicodeError):
            return None
        record = _record(payload)
        if record is None or record.expires_at <= now:
            return None
        return record

    def _set_cookie(self, record: Record, value: str) -> str:
        """The ``Set-Cookie`` value the engine will send for this record (its ``last_seen``
        is the moment of the save), so the size check counts every attribute."""
        setting = record.data.get(expiry.EXPIRY_KEY)
        if expiry.expire_at_browser_close(setting, default=self.config.expire_at_browser_close):
            max_age = None
        else:
            max_age = expiry.expiry_age(
                setting, modification=from_timestamp(record.meta.last_seen), cookie_age=self.config.cookie_age
            )
        return cookies.set_cookie(self.config, value, max_age=max_age, now=record.meta.last_seen)


def _as_signed(token: str) -> bool:
    """Whether ``token`` is spelled exactly as signing spells it. Base64 decoding forgives
    other spellings of the same bytes (``/`` for ``_``, stray characters, unused trailing
    bits), so a cookie altered that way would still verify; only the issued text opens."""
    if _SPELLING.fullmatch(token) is None:
        return False
    try:
        return all(
            base64_encode(base64_decode(part)) == part.encode("ascii") for part in token.split(".") if part
        )
    except BadData:
        return False


def _record(payload: object) -> Record | None:
    """A record from a verified payload; None for a layout this version does not know."""
    if not isinstance(payload, dict) or payload.get("v") != FORMAT:
        return None
    data, meta, expires_at = payload.get("d"), payload.get("m"), payload.get("e")
    if not isinstance(data, dict) or not isinstance(meta, dict) or not _is_number(expires_at):
        return None
    if not all(
        _is_number(meta.get(name)) for name in ("created_at", "issued_at", "last_seen", "saved_deadline")
    ):
        return None
    values: dict[str, Any] = {name: meta.get(name) for name in META_FIELDS}
    return Record(b"", data, Meta(**values), float(expires_at))  # type: ignore[arg-type]


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class CookieBackend(Backend):
    """The server-side face of the cookie store: there is nothing on the server, so every
    operation says so. The engine reads and writes sessions through :class:`CookieCodec`."""

    waits_on_io = False

    name = NAME

    def _by_key(self, operation: str) -> NoReturn:
        raise UnsupportedOperation(
            NAME,
            operation,
            "the session travels in the cookie and is read by the store's codec; "
            "there is no record on the server to look up by key",
        )

    def load(self, key: bytes, now: float) -> Record | None:
        self._by_key("load a session by key")

    def create(self, record: Record, now: float) -> bool:
        self._by_key("store a session record")

    def write(self, key: bytes, change: Change, now: float) -> bool:
        self._by_key("write to a session record")

    def touch(
        self, key: bytes, last_seen: float, saved_deadline: float, expires_at: float, now: float
    ) -> bool:
        self._by_key("touch a session record")

    def compare_and_set(
        self, key: bytes, name: str, expected: str | None, value: str | None, now: float
    ) -> Swap:
        raise UnsupportedOperation(
            NAME,
            "update a session key atomically",
            "each request carries its own signed copy of the session and the last response's "
            f"cookie wins; there is no record on the server to compare and set; {_SERVER_SIDE}",
        )

    def rotate(
        self,
        old_key: bytes,
        record: Record,
        grace_until: float | None,
        now: float,
        change: Change | None = None,
    ) -> Rotation:
        self._by_key("rotate a session record")

    def delete(self, key: bytes) -> bool:
        self._by_key("delete a session record")

    def exists(self, key: bytes) -> bool:
        self._by_key("look a session up by key")

    def clear_expired(self, now: float, batch_size: int) -> Iterator[int]:
        raise UnsupportedOperation(
            NAME,
            "clear expired sessions",
            "it keeps no sessions on the server (each lives in its browser's cookie, "
            "and an expired one is refused when it is presented)",
        )

    def count(self, now: float) -> Counts:
        raise UnsupportedOperation(
            NAME,
            "count sessions",
            f"it keeps no sessions on the server (each lives in its browser's cookie); {_SERVER_SIDE}",
        )

    def user_sessions(self, user_id: str, now: float) -> list[Summary]:
        raise UnsupportedOperation(
            NAME,
            "list a user's sessions",
            f"the server has no index of the cookies it signed; {_SERVER_SIDE}",
        )

    def delete_user_session(self, user_id: str, key: bytes) -> bool:
        raise UnsupportedOperation(
            NAME,
            "revoke a session server-side",
            "a signed cookie stays valid until its deadline wherever it was copied "
            f"(logout only deletes it in the browser that logs out); {_SERVER_SIDE}",
        )

    def revoke_user(self, user_id: str, valid_after: float, keep: bytes | None) -> int:
        raise UnsupportedOperation(
            NAME,
            "revoke a user's sessions",
            "a signed cookie stays valid until its deadline wherever it was copied "
            f"(logout only deletes it in the browser that logs out); {_SERVER_SIDE}",
        )

    def close(self) -> None:
        pass


def open_cookie(url: str, *, config: Config | None = None) -> Store:
    """``cookie://``: sessions carried by signed cookies, keyed by ``config.secret_keys``."""
    from .inline import InlineAsync

    parts = urlsplit(url)
    if parts.netloc or parts.path or parts.query or parts.fragment:
        raise ConfigError(
            "store", f"{url!r}: the cookie store takes no host, path or options; write cookie://"
        )
    config = config or Config()
    if config.max_sessions_per_user is not None:
        raise ConfigError(
            "max_sessions_per_user",
            "the cookie:// store cannot count a user's sessions (it keeps none on the server); "
            "leave it unset or use a server-side store",
        )
    codec = CookieCodec(config)
    backend = CookieBackend()
    return Store(backend, InlineAsync(backend), codec=codec)
