"""Starlette's ``SessionMiddleware``: the data itself in the cookie, base64 JSON signed by
itsdangerous' ``TimestampSigner`` with the app's ``secret_key``."""

from __future__ import annotations

import binascii
import json
from base64 import b64decode

from .base import OldSession

UNBOUNDED = 400 * 24 * 60 * 60
"""How long a taken-over cookie of a ``max_age=None`` app stays marked: browsers keep no
cookie longer than 400 days."""


class StarletteCookie:
    """Sessions in cookies signed by Starlette's ``SessionMiddleware``.

    ``secret_key`` and ``max_age`` are the middleware's (``max_age`` 14 days by
    default); ``secret_key`` may be a list, newest first, to accept older keys too.
    """

    name = "starlette-cookie"

    def __init__(
        self,
        secret_key: str | list[str],
        *,
        cookie_name: str = "session",
        max_age: int | None = 14 * 24 * 60 * 60,
    ) -> None:
        try:
            import itsdangerous
        except ImportError:  # pragma: no cover - the cookie extra is missing
            raise ImportError(
                "reading Starlette's cookies needs itsdangerous: pip install itsdangerous"
            ) from None
        keys = [secret_key] if isinstance(secret_key, str) else list(secret_key)
        if not keys:
            raise ValueError("StarletteCookie needs the old app's secret_key")
        self._signers = [itsdangerous.TimestampSigner(str(key)) for key in keys]
        self._bad = itsdangerous.BadSignature
        self.cookie_name = cookie_name
        self.max_age = max_age

    def read(self, value: str, now: float) -> OldSession | None:
        raw = value.encode("utf-8", "replace")
        for signer in self._signers:
            try:
                payload, signed_at = signer.unsign(raw, max_age=self.max_age, return_timestamp=True)
            except self._bad:  # forged, another key's, or past max_age (SignatureExpired)
                continue
            try:
                data = json.loads(b64decode(payload))
            except (ValueError, binascii.Error):
                return None
            if not isinstance(data, dict) or not data:
                return None
            lifetime = UNBOUNDED if self.max_age is None else self.max_age
            expires_at = signed_at.timestamp() + lifetime
            if expires_at <= now:
                return None
            return OldSession(identity=value, data=data, expires_at=expires_at)
        return None

    def retire(self, old: OldSession) -> None:
        """Nothing to delete: the take-over marker (kept until ``expires_at``) refuses it."""
