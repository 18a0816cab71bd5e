"""Every error sessionary raises, so callers can catch by meaning rather than by origin."""

from __future__ import annotations


class SessionaryError(Exception):
    """Base class of all sessionary errors."""


class ConfigError(SessionaryError, ValueError):
    """A configuration value or combination is invalid; raised when the config is built."""

    def __init__(self, setting: str, message: str) -> None:
        self.setting = setting
        self.message = message
        super().__init__(f"{setting}: {message}")


class SessionValueError(SessionaryError, TypeError):
    """A session value cannot be stored (not serializable, or too large).

    Raised when the session is saved, naming the key, before anything is written.
    """

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(f"session key {key!r}: {message}")


class SessionTooLarge(SessionValueError):
    """The whole session would exceed ``max_session_bytes`` (``SESSIONARY_MAX_SESSION_BYTES``).

    Raised when the session is saved, before anything is written; ``key`` names the
    largest value, ``largest`` the few largest keys.
    """

    def __init__(self, size: int, limit: int, largest: list[str]) -> None:
        self.size = size
        self.limit = limit
        self.largest = largest
        names = ", ".join(repr(name) for name in largest)
        super().__init__(
            largest[0] if largest else "",
            f"the session would be {size} bytes as JSON, over max_session_bytes={limit} "
            f"(largest keys: {names})",
        )


class SessionInterrupted(SessionaryError):
    """The session was deleted (for example by a logout) while this request was running.

    Django answers this with a 400; so do the sessionary middlewares. The write that
    found the record gone was not applied, so the deleted session stays deleted.
    """

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or "The request's session was deleted before the request completed. "
            "The user may have logged out in a concurrent request, for example."
        )


class StoreError(SessionaryError):
    """The session store failed; the request must not go on as if there were no session.

    The middlewares turn it into a 503 (configurable) and issue no cookie.
    """

    def __init__(self, store: str, cause: str) -> None:
        self.store = store
        self.cause = cause
        super().__init__(f"session store {store} failed: {cause}")


class StoreUnavailable(StoreError):
    """The store could not be reached (refused, timed out, connection lost)."""


class StoreCorrupted(StoreError):
    """The store answered with something that is not a session record."""


class StoreConflict(StoreError):
    """An atomic update of a session key lost the race to other requests too many times
    in a row (``Session.update_atomic``): nothing was written by it. Answered like a store
    failure (503 with ``Retry-After``): the client may simply retry."""


class CookieTooLarge(SessionaryError, ValueError):
    """A cookie would exceed what browsers keep (4096 bytes for name, value and attributes).

    A browser drops such a cookie without a word, so sessionary refuses to send it: the
    save fails, and the browser keeps the cookie it had.
    """

    def __init__(self, size: int, limit: int = 4096, *, advice: str = "") -> None:
        self.size = size
        self.limit = limit
        message = f"the session cookie would take {size} bytes, over the {limit} bytes browsers keep"
        super().__init__(f"{message}; {advice}" if advice else message)


class UnsupportedOperation(SessionaryError):
    """The store cannot do this by design (a signed-cookie store keeps nothing on the server)."""

    def __init__(self, store: str, operation: str, reason: str) -> None:
        self.store = store
        self.operation = operation
        self.reason = reason
        super().__init__(f"{store} cannot {operation}: {reason}")


class TooManySessions(SessionaryError):
    """The user already has the configured maximum of live sessions and the policy is to refuse."""

    def __init__(self, user_id: str, limit: int) -> None:
        self.user_id = user_id
        self.limit = limit
        super().__init__(f"user {user_id!r} already has {limit} live sessions (the configured maximum)")


class BlockingCallError(SessionaryError, RuntimeError):
    """A store call on the store's sync (blocking) face was about to run on a running
    asyncio event loop, with ``blocking_store_calls="raise"``; nothing was sent to the store.

    ``call`` names the store operation, ``site`` the code that asked for it.
    """

    def __init__(self, call: str, store: str, site: str | None) -> None:
        self.call = call
        self.store = store
        self.site = site
        super().__init__(blocking_message(call, store, site))


class BlockingCallWarning(RuntimeWarning):
    """The same finding as :class:`BlockingCallError`, with ``blocking_store_calls="warn"``:
    the call went through, and blocked the event loop while it waited on the store."""


def blocking_message(call: str, store: str, site: str | None) -> str:
    where = f" from {site}" if site else ""
    return (
        f"a blocking call to the session store ({call} on {store}) ran on the event loop{where}. "
        "In an async view use the async API: await session.aload() (then plain session[...] "
        "does no I/O), session.aget / aset / apop / asave / acycle_key / aflush / "
        "aupdate_atomic, sessionary.alogin / alogout, manager.alist_sessions / arevoke_all; "
        "or have the integration read the session before the view (preload=True). "
        "blocking_store_calls='allow' lets such calls through."
    )
