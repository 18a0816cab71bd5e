"""Every setting in one frozen object, checked when it is built.

Names and defaults follow Django's ``SESSION_*`` settings where Django has one
(``cookie_age`` is ``SESSION_COOKIE_AGE`` and so on). Where sessionary is stricter by
default (``cookie_secure``), or adds something Django lacks (timeouts, limits), the
docstring of the field says so. A combination a browser would reject, or that makes no
sense, fails here with the name of the setting, not at the first request.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from typing import Any, Literal

from .errors import ConfigError
from .takeover.base import Source

SameSite = Literal["Lax", "Strict", "None"]
LimitPolicy = Literal["evict_oldest", "refuse"]
BlockingPolicy = Literal["raise", "warn", "allow"]
BLOCKING_POLICIES = ("raise", "warn", "allow")

TWO_WEEKS = 60 * 60 * 24 * 7 * 2
THIRTY_DAYS = 60 * 60 * 24 * 30
ONE_DAY = 60 * 60 * 24

# RFC 6265: a cookie name is an RFC 2616 token.
_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_ATTRIBUTE_VALUE = re.compile(r"[\x21-\x3a\x3c-\x7e]*")  # printable ASCII except ';'


@dataclass(frozen=True, kw_only=True)
class Config:
    """How sessions behave. Build it once at start-up; it cannot change afterwards."""

    # --- Django's settings, same names without the SESSION_ prefix -------------------
    cookie_name: str = "sessionid"
    """``SESSION_COOKIE_NAME``. With ``cookie_host_prefix`` the cookie is ``__Host-<name>``."""
    cookie_age: int = TWO_WEEKS
    """``SESSION_COOKIE_AGE``: seconds a session lives after its last save by default."""
    cookie_domain: str | None = None
    cookie_path: str = "/"
    cookie_secure: bool = True
    """Secure by default (Django's default is False). Browsers accept Secure cookies from
    ``http://localhost`` and ``http://127.0.0.1``, so local development still works."""
    cookie_httponly: bool = True
    cookie_samesite: SameSite | None = "Lax"
    """``"Lax"``, ``"Strict"``, ``"None"`` (needs Secure) or ``None`` to omit the attribute."""
    expire_at_browser_close: bool = False
    save_every_request: bool = False

    # --- sessionary's additions ------------------------------------------------------
    cookie_partitioned: bool = False
    """Send the cookie with ``Partitioned`` (CHIPS: a third-party context keeps its own
    cookie jar per top-level site); browsers require Secure with it."""
    cookie_host_prefix: bool | None = None
    """The cookie name's prefix (ASVS 5 V3.3.1). None, the default, picks the strongest
    the cookie can carry: ``__Host-<cookie_name>`` (the browser then insists on Secure,
    Path=/ and no Domain, so a sibling subdomain cannot plant or overwrite it), else
    ``__Secure-`` for a Secure cookie with a Domain or a narrower Path, else none (a
    cookie that is not Secure). True requires ``__Host-`` (a bad combination fails here);
    False sends the bare name, as Django does."""
    idle_timeout: int | None = None
    """End a session this many seconds after its last request (server-side)."""
    absolute_timeout: int | None = THIRTY_DAYS
    """End a session this many seconds after sign-in (or creation), whatever the activity."""
    renewal_timeout: int | None = None
    """Issue a new token every this many seconds of a session's life."""
    renewal_grace: int = 30
    """Seconds the previous token keeps working after a renewal, for requests in flight."""
    detect_token_reuse: bool = False
    """Remember each token a rotation retires (sign-in, ``cycle_key``, renewal); one
    presented again after the rotation's grace ends the whole session and emits
    ``token_reused``: two parties held the same cookie. Needs a server-side store."""
    retired_token_memory: int = ONE_DAY
    """Seconds a retired token is remembered for reuse detection (one small record each)."""
    reuse_ends_user_sessions: bool = False
    """On a reused token, also end every other session of the session's user."""
    browser_close_timeout: int | None = ONE_DAY
    """Server-side limit, from creation, for sessions whose cookie ends at browser close:
    a browser that restores session cookies cannot keep such a session forever."""
    touch_fraction: float = 0.25
    """A read-only request refreshes the stored deadline only once the refresh would
    extend it by at least this share of the remaining lifetime; 0 refreshes on every
    request. A session may therefore end up to this share of its window early."""
    revoked_before: float | None = None
    """Refuse every session whose token was issued before this instant (epoch seconds):
    the switch that ends all sessions of all users at once (set it to ``time.time()``
    and restart)."""
    max_sessions_per_user: int | None = None
    session_limit_policy: LimitPolicy = "evict_oldest"
    record_client: bool = False
    """Keep the IP address and user agent of each session for device lists (opt-in)."""
    clear_site_data_on_logout: bool = True
    """Send ``Clear-Site-Data: "cookies"`` with the response that logs out."""
    store_failure_status: int = 503
    """Status of the response when the store fails mid-request (fail closed)."""
    max_value_bytes: int | None = 1024 * 1024
    """Refuse to store a single value larger than this many bytes of JSON."""
    max_session_bytes: int | None = 4 * 1024 * 1024
    """Refuse to store a session whose keys and values take more than this many bytes of
    JSON in all (checked before anything is written): one session cannot hurt the store."""
    cleanup_interval: int | None = 60 * 60
    """Seconds between background cleanups of expired records, for the stores that keep
    them (SQLite, PostgreSQL); one process of many runs each, under a store-side lease.
    None turns it off (for a store cleaned by ``sessionary clear-expired`` from cron)."""
    cleanup_batch_size: int = 1000
    """Rows each statement of the background cleanup deletes."""
    telemetry: bool = False
    """Metrics and traces through the OpenTelemetry API and the app's global providers
    (needs ``sessionary[telemetry]``; :func:`sessionary.telemetry.instrument` takes others)."""
    telemetry_user_ids: bool = False
    """Put the user id on store spans (``enduser.id``); never on metrics. Off: no
    attribute ever names a user."""
    accept_django_keys: bool = False
    """Also accept Django's 32-character keys, for sessions imported from Django."""
    secret_keys: tuple[str, ...] = ()
    """Signing keys, newest first: the cookie store signs with the first and accepts
    all; events hash tokens with the first. Empty means a random key per process."""
    log_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    blocking_store_calls: BlockingPolicy | None = None
    """What a store call on the store's sync face does while an asyncio event loop runs in
    the same thread (plain ``session["key"]`` loading, or ``session.save()``, inside an
    ``async def`` view): ``"raise"`` raises :class:`~sessionary.errors.BlockingCallError`,
    ``"warn"`` lets it through with a :class:`~sessionary.errors.BlockingCallWarning`
    (once per manager and call site), ``"allow"`` lets it through. None, the default,
    leaves it to the integration: ``"warn"`` where the integration reads the session
    before the view (Quart, Sanic, Falcon ASGI, BlackSheep, Litestar) or hands it out
    loaded (aiohttp, Tornado), ``"allow"`` elsewhere (the ASGI middleware, sync apps,
    scripts). Exempt are the stores whose calls never wait on I/O (``memory://``,
    ``cookie://``) and those whose async face runs the sync one on the loop anyway
    (``sqlite:///...?async=inline``); ``sqlite://`` by default (``async=thread``), Redis
    and PostgreSQL count."""
    takeover: Source | None = None
    """The old library whose sessions are taken over on their first request, so nobody
    is signed out by the switch: a reader from :mod:`sessionary.takeover`."""

    def __post_init__(self) -> None:
        if isinstance(self.cookie_samesite, str):
            normalized = self.cookie_samesite.capitalize()
            object.__setattr__(self, "cookie_samesite", normalized)
        if self.secret_keys and isinstance(self.secret_keys, str):
            raise ConfigError("secret_keys", "expected a sequence of keys, got one string")
        object.__setattr__(self, "secret_keys", tuple(self.secret_keys))
        if self.secret_keys:
            object.__setattr__(self, "log_secret", self.secret_keys[0].encode("utf-8"))
        self._validate()

    @cached_property
    def session_cookie_name(self) -> str:
        """The cookie's name as sent, with its prefix (see ``cookie_host_prefix``); worked
        out once (the config is frozen), as every request reads it."""
        name = self.cookie_name
        if name.startswith(("__Host-", "__Secure-")) or self.cookie_host_prefix is False:
            return name
        if self.cookie_host_prefix:
            return "__Host-" + name
        if not self.cookie_secure:
            return name
        if self.cookie_domain is None and self.cookie_path == "/":
            return "__Host-" + name
        return "__Secure-" + name

    def with_changes(self, **changes: Any) -> Config:
        """A copy with some settings changed, validated like a new one."""
        return replace(self, **changes)

    def _validate(self) -> None:
        for flag in _FLAGS:
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(flag, f"{getattr(self, flag)!r} must be True or False")
        if self.cookie_host_prefix is not None and not isinstance(self.cookie_host_prefix, bool):
            raise ConfigError(
                "cookie_host_prefix", f"{self.cookie_host_prefix!r} must be True, False or None (automatic)"
            )
        if not isinstance(self.cookie_name, str) or not _COOKIE_NAME.fullmatch(self.cookie_name):
            raise ConfigError(
                "cookie_name", f"{self.cookie_name!r} is not a valid cookie name (RFC 6265 token)"
            )
        name = self.session_cookie_name
        _non_negative_int("cookie_age", self.cookie_age)
        if (
            not isinstance(self.cookie_path, str)
            or not self.cookie_path.startswith("/")
            or not _ATTRIBUTE_VALUE.fullmatch(self.cookie_path)
        ):
            raise ConfigError(
                "cookie_path", f"{self.cookie_path!r} must start with '/' and be printable ASCII without ';'"
            )
        if self.cookie_domain is not None and (
            not self.cookie_domain or not _ATTRIBUTE_VALUE.fullmatch(self.cookie_domain)
        ):
            raise ConfigError("cookie_domain", f"{self.cookie_domain!r} is not a valid cookie domain")
        if self.cookie_samesite not in ("Lax", "Strict", "None", None):
            raise ConfigError(
                "cookie_samesite",
                f"{self.cookie_samesite!r} is not one of 'Lax', 'Strict', 'None' or None",
            )
        if self.cookie_samesite == "None" and not self.cookie_secure:
            raise ConfigError(
                "cookie_samesite",
                "SameSite=None requires cookie_secure=True; browsers reject such cookies otherwise",
            )
        if self.cookie_partitioned and not self.cookie_secure:
            raise ConfigError("cookie_partitioned", "a Partitioned cookie requires cookie_secure=True")
        if name.startswith("__Host-"):
            # Blame the setting that asked for the prefix: the flag, or the name itself.
            prefix = "cookie_host_prefix" if self.cookie_host_prefix else "cookie_name"
            if not self.cookie_secure:
                raise ConfigError(prefix, "a __Host- cookie requires cookie_secure=True")
            if self.cookie_path != "/":
                raise ConfigError(prefix, "a __Host- cookie requires cookie_path='/'")
            if self.cookie_domain is not None:
                raise ConfigError(prefix, "a __Host- cookie must not set cookie_domain")
        if name.startswith("__Secure-") and not self.cookie_secure:
            raise ConfigError("cookie_name", "a __Secure- cookie requires cookie_secure=True")
        for setting in ("idle_timeout", "absolute_timeout", "renewal_timeout", "browser_close_timeout"):
            value = getattr(self, setting)
            if value is not None:
                _positive_int(setting, value)
        _non_negative_int("renewal_grace", self.renewal_grace)
        _positive_int("retired_token_memory", self.retired_token_memory)
        if self.renewal_timeout is not None and self.renewal_grace >= self.renewal_timeout:
            raise ConfigError("renewal_grace", "must be shorter than renewal_timeout")
        if not isinstance(self.touch_fraction, int | float) or not 0 <= self.touch_fraction < 1:
            raise ConfigError("touch_fraction", f"{self.touch_fraction!r} must be at least 0 and below 1")
        if self.max_sessions_per_user is not None:
            _positive_int("max_sessions_per_user", self.max_sessions_per_user)
        if self.revoked_before is not None and (
            isinstance(self.revoked_before, bool) or not isinstance(self.revoked_before, int | float)
        ):
            raise ConfigError("revoked_before", f"{self.revoked_before!r} must be epoch seconds (a number)")
        if self.session_limit_policy not in ("evict_oldest", "refuse"):
            raise ConfigError(
                "session_limit_policy", f"{self.session_limit_policy!r} is not 'evict_oldest' or 'refuse'"
            )
        if self.blocking_store_calls is not None and self.blocking_store_calls not in BLOCKING_POLICIES:
            raise ConfigError(
                "blocking_store_calls",
                f"{self.blocking_store_calls!r} is not 'raise', 'warn' or 'allow' (or None: the integration decides)",
            )
        if not isinstance(self.store_failure_status, int) or not 400 <= self.store_failure_status <= 599:
            raise ConfigError(
                "store_failure_status", f"{self.store_failure_status!r} is not a 4xx or 5xx status"
            )
        for limit in ("max_value_bytes", "max_session_bytes"):
            if getattr(self, limit) is not None:
                _positive_int(limit, getattr(self, limit))
        if self.cleanup_interval is not None:
            _positive_int("cleanup_interval", self.cleanup_interval)
        _positive_int("cleanup_batch_size", self.cleanup_batch_size)
        if self.takeover is not None and not isinstance(self.takeover, Source):
            raise ConfigError(
                "takeover",
                f"{self.takeover!r} is not a reader from sessionary.takeover (name, cookie_name, read, retire)",
            )
        for key in self.secret_keys:
            if not isinstance(key, str) or len(key) < 16:
                raise ConfigError("secret_keys", "each key must be a string of at least 16 characters")


_FLAGS = (
    "cookie_secure",
    "cookie_httponly",
    "expire_at_browser_close",
    "save_every_request",
    "cookie_partitioned",
    "record_client",
    "clear_site_data_on_logout",
    "accept_django_keys",
    "detect_token_reuse",
    "reuse_ends_user_sessions",
    "telemetry",
    "telemetry_user_ids",
)
"""Settings that must be real booleans: ``"False"`` read from an environment variable is truthy."""


def _non_negative_int(setting: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(setting, f"{value!r} must be a whole number of seconds, 0 or more")


def _positive_int(setting: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(setting, f"{value!r} must be a whole number above 0")


SETTING_NAMES = frozenset(f.name for f in fields(Config))
