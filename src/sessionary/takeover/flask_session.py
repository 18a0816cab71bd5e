"""Flask-Session's server-side stores: Redis (``prefix + sid``, its TTL the lifetime) and
SQLAlchemy (a ``sessions`` table with ``session_id``, ``data``, ``expiry``).

The data is msgpack by default (``SESSION_SERIALIZATION_FORMAT = "json"`` writes JSON),
read with msgspec as Flask-Session does; its last resort, pickle, is never tried: a record
that is neither is refused. With ``SESSION_USE_SIGNER`` the cookie holds the sid signed by
itsdangerous' ``Signer`` (salt ``flask-session``), checked with the old ``SECRET_KEY``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import UTC
from itertools import islice
from typing import Any

from ._redis import client_for, get_with_ttl
from .base import OldSession

_SID = re.compile(r"[A-Za-z0-9_-]{1,255}")
"""Flask-Session issues ``secrets.token_urlsafe(32)``."""

DEFAULT_LIFETIME = 31 * 24 * 60 * 60


class _FlaskSessionFormat:
    """What both stores share: the cookie (signed or not) and the data's encoding."""

    cookie_name: str

    def __init__(self, *, cookie_name: str, key_prefix: str, secret_key: str | bytes | None) -> None:
        try:
            import msgspec
        except ImportError:  # pragma: no cover - flask-session brings msgspec
            raise ImportError("reading Flask-Session's records needs msgspec: pip install msgspec") from None
        self._decoders = (msgspec.msgpack.Decoder(), msgspec.json.Decoder())
        self._decode_error = msgspec.DecodeError
        self.cookie_name = cookie_name
        self.key_prefix = key_prefix
        self._signer: Any = None
        if secret_key is not None:
            from itsdangerous import BadSignature, Signer

            self._signer = Signer(secret_key, salt="flask-session", key_derivation="hmac")
            self._bad = BadSignature

    def sid(self, value: str) -> str | None:
        """The session id the cookie names, or None for a bad signature or shape."""
        if self._signer is not None:
            try:
                value = self._signer.unsign(value.encode("utf-8", "replace")).decode("utf-8", "replace")
            except self._bad:
                return None
        return value if _SID.fullmatch(value) else None

    def decode(self, raw: bytes) -> dict[str, Any] | None:
        for decoder in self._decoders:
            try:
                data = decoder.decode(raw)
            except self._decode_error:
                continue
            if not isinstance(data, dict):
                return None
            data.pop("_permanent", None)  # Flask's own flag, not the app's data
            return data or None
        return None


class FlaskSessionRedis(_FlaskSessionFormat):
    """Sessions left by Flask-Session with ``SESSION_TYPE = "redis"``.

    ``key_prefix`` is ``SESSION_KEY_PREFIX``; ``secret_key`` the old ``SECRET_KEY``
    when ``SESSION_USE_SIGNER`` was on (None otherwise).
    """

    name = "flask-session"

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Any = None,
        key_prefix: str = "session:",
        cookie_name: str = "session",
        secret_key: str | bytes | None = None,
    ) -> None:
        super().__init__(cookie_name=cookie_name, key_prefix=key_prefix, secret_key=secret_key)
        self.client = client_for(url, client)

    def read(self, value: str, now: float) -> OldSession | None:
        sid = self.sid(value)
        if sid is None:
            return None
        key = self.key_prefix + sid
        raw, ttl = get_with_ttl(self.client, key)
        if raw is None or ttl == -2:
            return None
        data = self.decode(raw)
        if data is None:
            return None
        expires_at = now + (ttl / 1000 if ttl >= 0 else DEFAULT_LIFETIME)
        return OldSession(identity=key, data=data, expires_at=expires_at)

    def retire(self, old: OldSession) -> None:
        self.client.delete(old.identity)

    def scan(self, now: float, batch_size: int = 500) -> Iterator[list[OldSession | str]]:
        """Every record under the prefix, batch by batch (the bulk import): a live one as
        an :class:`OldSession`, one it cannot read as its key."""
        for keys in _batches(
            self.client.scan_iter(match=_glob_escape(self.key_prefix) + "*", count=batch_size), batch_size
        ):
            batch: list[OldSession | str] = []
            for key in keys:
                text = key.decode() if isinstance(key, bytes) else key
                raw, ttl = get_with_ttl(self.client, text)
                if raw is None or ttl == -2:
                    continue  # gone meanwhile
                data = self.decode(raw)
                expires_at = now + (ttl / 1000 if ttl >= 0 else DEFAULT_LIFETIME)
                batch.append(
                    text if data is None else OldSession(identity=text, data=data, expires_at=expires_at)
                )
            yield batch


class FlaskSessionSQL(_FlaskSessionFormat):
    """Sessions left by Flask-Session with ``SESSION_TYPE = "sqlalchemy"``.

    ``url`` is the old database's SQLAlchemy URL (``SQLALCHEMY_DATABASE_URI``), ``table``
    ``SESSION_SQLALCHEMY_TABLE`` (and ``schema``); the other arguments as for Redis.
    Flask-Session writes ``expiry`` as naive UTC.
    """

    name = "flask-session"

    def __init__(
        self,
        url: str,
        *,
        table: str = "sessions",
        schema: str | None = None,
        key_prefix: str = "session:",
        cookie_name: str = "session",
        secret_key: str | bytes | None = None,
    ) -> None:
        super().__init__(cookie_name=cookie_name, key_prefix=key_prefix, secret_key=secret_key)
        try:
            import sqlalchemy
        except ImportError:  # pragma: no cover - flask-sqlalchemy brings it
            raise ImportError(
                "reading Flask-Session's SQL table needs SQLAlchemy: pip install sqlalchemy"
            ) from None
        self._sa = sqlalchemy
        self.engine = sqlalchemy.create_engine(url)
        self.table = sqlalchemy.Table(
            table,
            sqlalchemy.MetaData(schema=schema),
            sqlalchemy.Column("id", sqlalchemy.Integer, primary_key=True),
            sqlalchemy.Column("session_id", sqlalchemy.String(255)),
            sqlalchemy.Column("data", sqlalchemy.LargeBinary),
            sqlalchemy.Column("expiry", sqlalchemy.DateTime),
        )

    def _old(self, key: str, raw: Any, expiry: Any, now: float) -> OldSession | None:
        if expiry is None:
            return None
        expires_at = expiry.replace(tzinfo=UTC).timestamp()
        if expires_at <= now:
            return None
        data = self.decode(bytes(raw))
        if data is None:
            return None
        return OldSession(identity=key, data=data, expires_at=expires_at)

    def read(self, value: str, now: float) -> OldSession | None:
        sid = self.sid(value)
        if sid is None:
            return None
        key = self.key_prefix + sid
        columns = self.table.c
        query = self._sa.select(columns.data, columns.expiry).where(columns.session_id == key)
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else self._old(key, row[0], row[1], now)

    def scan(self, now: float, batch_size: int = 500) -> Iterator[list[OldSession | str]]:
        """Every unexpired row, batch by batch in ``id`` order (the bulk import)."""
        columns = self.table.c
        last = None
        while True:
            query = self._sa.select(columns.id, columns.session_id, columns.data, columns.expiry)
            if last is not None:
                query = query.where(columns.id > last)
            with self.engine.connect() as connection:
                rows = connection.execute(query.order_by(columns.id).limit(batch_size)).all()
            if not rows:
                return
            last = rows[-1][0]
            batch: list[OldSession | str] = []
            for _, key, raw, expiry in rows:
                if key is None or not key.startswith(self.key_prefix):
                    continue
                if expiry is None or expiry.replace(tzinfo=UTC).timestamp() <= now:
                    continue
                old = self._old(key, raw, expiry, now)
                batch.append(key if old is None else old)
            yield batch

    def retire(self, old: OldSession) -> None:
        with self.engine.begin() as connection:
            connection.execute(self.table.delete().where(self.table.c.session_id == old.identity))


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _glob_escape(text: str) -> str:
    """``text`` matched literally by a Redis SCAN pattern."""
    return "".join("\\" + char if char in "*?[]\\" else char for char in text)
