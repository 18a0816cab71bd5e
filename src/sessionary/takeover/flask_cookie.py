"""Flask's default session: the data in the cookie, Flask's tagged JSON signed by
itsdangerous' ``URLSafeTimedSerializer`` (salt ``cookie-session``, HMAC-SHA1)."""

from __future__ import annotations

import hashlib

from .base import OldSession

DEFAULT_LIFETIME = 31 * 24 * 60 * 60
"""Flask's ``PERMANENT_SESSION_LIFETIME`` default, the ``max_age`` it checks signatures with."""


class FlaskCookie:
    """Sessions in cookies signed by Flask's ``SecureCookieSessionInterface``.

    ``secret_key`` is the old app's ``SECRET_KEY`` (a list, newest first, for its
    ``SECRET_KEY_FALLBACKS`` too); ``lifetime`` its ``PERMANENT_SESSION_LIFETIME`` in
    seconds, which Flask uses as the signature's ``max_age``. The values are read with
    Flask's own ``TaggedJSONSerializer``, so tuples, bytes and datetimes come back as Flask
    wrote them (and are then reported if sessionary cannot store them).
    """

    name = "flask-cookie"

    def __init__(
        self,
        secret_key: str | bytes | list[str | bytes],
        *,
        cookie_name: str = "session",
        lifetime: int = DEFAULT_LIFETIME,
    ) -> None:
        try:
            from flask.json.tag import TaggedJSONSerializer
            from itsdangerous import BadSignature, URLSafeTimedSerializer
        except ImportError:  # pragma: no cover - flask is missing
            raise ImportError(
                "reading Flask's cookies needs Flask: pip install 'sessionary[flask]'"
            ) from None
        given = list(secret_key) if isinstance(secret_key, list) else [secret_key]
        keys = [key.encode("utf-8") if isinstance(key, str) else key for key in given]
        if not keys:
            raise ValueError("FlaskCookie needs the old app's SECRET_KEY")
        # itsdangerous signs with the last key and accepts all: the newest goes last.
        self._serializer = URLSafeTimedSerializer(
            list(reversed(keys)),
            salt="cookie-session",
            serializer=TaggedJSONSerializer(),
            signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha1},
        )
        self._bad = BadSignature
        self.cookie_name = cookie_name
        self.lifetime = lifetime

    def read(self, value: str, now: float) -> OldSession | None:
        try:
            data, signed_at = self._serializer.loads(value, max_age=self.lifetime, return_timestamp=True)
        except self._bad:  # forged, another key's, or older than the lifetime
            return None
        except (ValueError, TypeError, KeyError):  # signed but not Flask's tagged JSON
            return None
        if not isinstance(data, dict):
            return None
        data.pop("_permanent", None)  # Flask's own flag, not the app's data
        if not data:
            return None
        expires_at = signed_at.timestamp() + self.lifetime
        if expires_at <= now:
            return None
        return OldSession(identity=value, data=data, expires_at=expires_at)

    def retire(self, old: OldSession) -> None:
        """Nothing to delete: the take-over marker (kept until ``expires_at``) refuses it."""
