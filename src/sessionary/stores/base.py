"""The store contract: what a store keeps for one session, and the change a save sends it.

A store stores; it decides no policy. It receives deadlines already computed by
:mod:`sessionary.expiry` and only has to refuse records whose deadline has passed, refuse
to write to records that are gone (no resurrection), and keep a per-user index.
The operations themselves are declared once, in :mod:`sessionary.stores.backend._async`
(``AsyncBackend``), and generated for sync code (``Backend``).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..errors import StoreCorrupted
from ..serializer import copy_value, decode_value, encode_ascii, encode_stored


@dataclass(slots=True)
class Meta:
    """What sessionary keeps about a session beside its data. Times are epoch seconds."""

    created_at: float
    """When the session was first stored."""
    issued_at: float
    """When the current token was issued (creation or the last rotation)."""
    last_seen: float
    """The last activity written to the store (saves and throttled touches)."""
    saved_deadline: float
    """Django's expiry date as of the last save (``get_expiry_date()`` then)."""
    auth_at: float | None = None
    """When the user signed in; the absolute timeout counts from here."""
    user_id: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    idle_timeout: int | None = None
    """Per-session idle timeout; None uses the config's, 0 disables it for this session."""
    absolute_timeout: int | None = None
    """Per-session absolute timeout; None uses the config's, 0 disables it."""

    def to_json(self) -> str:
        return encode_ascii(asdict(self))

    def copy(self) -> Meta:
        """A copy of its own (``copy.copy`` costs several times more)."""
        return self.with_activity(self.last_seen, self.saved_deadline)

    def with_activity(self, last_seen: float, saved_deadline: float) -> Meta:
        """A copy with this request's activity: what every read-only request computes to
        decide on a touch (``dataclasses.replace`` costs several times more)."""
        return Meta(
            self.created_at,
            self.issued_at,
            last_seen,
            saved_deadline,
            self.auth_at,
            self.user_id,
            self.ip,
            self.user_agent,
            self.idle_timeout,
            self.absolute_timeout,
        )

    @classmethod
    def from_json(cls, text: str | bytes, *, store: str = "store") -> Meta:
        try:
            values = decode_value(text)
        except (ValueError, TypeError, RecursionError) as exc:
            raise StoreCorrupted(store, f"session metadata is not valid JSON ({exc})") from None
        return cls.from_dict(values, store=store)

    @classmethod
    def from_dict(cls, values: dict[str, Any], *, store: str = "store") -> Meta:
        """Metadata read back from a store, checked field by field: a record edited by
        hand or by another program is refused (:class:`StoreCorrupted`), never served."""
        if not isinstance(values, dict):
            raise StoreCorrupted(store, f"session metadata is a {type(values).__name__}, not an object")
        # Every load comes through here: what JSON gives for a sound record (floats or
        # ints, strings, nulls) is checked inline first; anything else takes the field
        # by field check below, which accepts or names the first bad field.
        get: Callable[[str], Any] = values.get
        created_at, issued_at, last_seen, saved_deadline = (
            get("created_at"),
            get("issued_at"),
            get("last_seen"),
            get("saved_deadline"),
        )
        auth_at, user_id, ip, user_agent = get("auth_at"), get("user_id"), get("ip"), get("user_agent")
        idle_timeout, absolute_timeout = get("idle_timeout"), get("absolute_timeout")
        if (
            type(created_at) in _NUMBERS
            and type(issued_at) in _NUMBERS
            and type(last_seen) in _NUMBERS
            and type(saved_deadline) in _NUMBERS
            and _LOW < created_at < _HIGH
            and _LOW < issued_at < _HIGH
            and _LOW < last_seen < _HIGH
            and _LOW < saved_deadline < _HIGH
            and (auth_at is None or (type(auth_at) in _NUMBERS and _LOW < auth_at < _HIGH))
            and (user_id is None or type(user_id) is str)
            and (ip is None or type(ip) is str)
            and (user_agent is None or type(user_agent) is str)
            and (idle_timeout is None or (type(idle_timeout) is int and idle_timeout >= 0))
            and (absolute_timeout is None or (type(absolute_timeout) is int and absolute_timeout >= 0))
        ):
            return cls(
                created_at,
                issued_at,
                last_seen,
                saved_deadline,
                auth_at,
                user_id,
                ip,
                user_agent,
                idle_timeout,
                absolute_timeout,
            )
        known: dict[str, Any] = {name: values.get(name) for name in META_FIELDS}
        for name, value in known.items():
            expected = _META_TYPES[name]
            if not _is_a(value, expected):
                raise StoreCorrupted(
                    store, f"session metadata {name}={str(value)[:40]!r} is not {_META_WORDS[expected]}"
                )
        return cls(**known)


META_FIELDS = tuple(f.name for f in fields(Meta))

_TIME, _OPTIONAL_TIME, _OPTIONAL_TEXT, _OPTIONAL_SECONDS = "time", "optional time", "text", "seconds"
_META_TYPES = {
    "created_at": _TIME,
    "issued_at": _TIME,
    "last_seen": _TIME,
    "saved_deadline": _TIME,
    "auth_at": _OPTIONAL_TIME,
    "user_id": _OPTIONAL_TEXT,
    "ip": _OPTIONAL_TEXT,
    "user_agent": _OPTIONAL_TEXT,
    "idle_timeout": _OPTIONAL_SECONDS,
    "absolute_timeout": _OPTIONAL_SECONDS,
}
_META_WORDS = {
    _TIME: "a finite number of epoch seconds",
    _OPTIONAL_TIME: "null or a finite number of epoch seconds",
    _OPTIONAL_TEXT: "null or a string",
    _OPTIONAL_SECONDS: "null or a whole number of seconds, 0 or more",
}


_NUMBERS = frozenset((int, float))
_LOW, _HIGH = -math.inf, math.inf


def _is_a(value: Any, expected: str) -> bool:
    if value is None:
        return expected != _TIME
    if expected == _OPTIONAL_TEXT:
        return isinstance(value, str)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return False
    return expected != _OPTIONAL_SECONDS or (isinstance(value, int) and value >= 0)


@dataclass(slots=True)
class Record:
    """One live session as a store returns it."""

    key: bytes
    """The store key (SHA-256 of the token). After following a renewal alias this is the
    key of the session the alias points to, not the key that was asked for."""
    data: dict[str, Any]
    meta: Meta
    expires_at: float
    """The server-side deadline; the record is dead from this instant on."""


class Kept:
    """A record as a near-cache keeps it: decoded and checked once, when it was read, and
    handed out as a copy of its own on every hit (:meth:`served`), so that no request can
    change what another reads (a session's data is the dict its view changes in place)."""

    __slots__ = ("_nested", "_record")

    def __init__(self, record: Record) -> None:
        # Only lists and dicts need copying below the top level (JSON decodes nothing
        # else mutable); a session of strings and numbers copies its dict and no more.
        data = record.data
        if _ATOMS.issuperset(map(type, data.values())):
            self._nested: tuple[str, ...] = ()
        else:
            self._nested = tuple([name for name, value in data.items() if type(value) in _NESTED])
        self._record = self._copy(record, self._nested)

    @property
    def expires_at(self) -> float:
        return self._record.expires_at

    def size(self, text_length: int) -> int:
        """About the bytes this copy takes, for a near-cache's budget: the length of the
        text it was decoded from (``text_length``), plus the objects that hold it decoded
        (about 100 bytes a key, 400 for the record, its metadata and this object)."""
        return text_length + 100 * len(self._record.data) + 400

    def served(self) -> Record:
        """The record, as a copy of its own."""
        return self._copy(self._record, self._nested)

    @staticmethod
    def _copy(record: Record, nested: tuple[str, ...]) -> Record:
        data = record.data.copy()
        for name in nested:
            data[name] = copy_value(data[name])
        return Record(record.key, data, record.meta.copy(), record.expires_at)


_NESTED = (list, dict)
_ATOMS = frozenset((str, int, float, bool, type(None)))


@dataclass(slots=True, frozen=True)
class Summary:
    """A session as listed for its user: everything but the data."""

    key: bytes
    meta: Meta
    expires_at: float


@dataclass(slots=True)
class Change:
    """What one save changes: only the keys that changed, and the metadata that moved."""

    set: dict[str, str] = field(default_factory=dict)
    """Changed keys and their new values as JSON text."""
    removed: frozenset[str] = frozenset()
    """Keys to delete."""
    cleared: bool = False
    """Drop every stored key not in ``set`` first (``clear()``, or a full rewrite)."""
    meta: dict[str, Any] = field(default_factory=dict)
    """The :class:`Meta` fields this save changes, by name."""
    expires_at: float = 0.0
    """The new deadline; unlike a touch, a save may shorten it (``set_expiry(10)``)."""

    def apply_to(self, data: dict[str, Any]) -> dict[str, Any]:
        """The data a record holds after this change (for stores that merge in Python)."""
        merged = {} if self.cleared else dict(data)
        for key in self.removed:
            merged.pop(key, None)
        for key, text in self.set.items():
            merged[key] = decode_value(text)
        return merged

    def apply_meta(self, meta: Meta) -> Meta:
        # Every Meta field is a scalar: no deep copy (``asdict``) needed, on every save.
        values = {name: getattr(meta, name) for name in META_FIELDS}
        values.update(self.meta)
        return Meta(**values)

    @classmethod
    def replacing(cls, data: dict[str, Any]) -> Change:
        """The change that makes a record's data exactly ``data`` (every key, cleared first)."""
        return cls(
            set={name: encode_stored(value) for name, value in data.items()},
            cleared=True,
        )


class Swap(enum.Enum):
    """How a compare-and-set of one session key went (``AsyncBackend.compare_and_set``)."""

    SWAPPED = "swapped"
    CONFLICT = "conflict"
    """The key no longer held the expected value: nothing was written; read again and retry."""
    GONE = "gone"
    """No live session under the key (deleted, expired or revoked): nothing was written."""


class Rotation(enum.Enum):
    """How a rotation (new token for the same session) went."""

    ROTATED = "rotated"
    COLLISION = "collision"
    """The new key exists already; draw another token and retry."""
    GONE = "gone"
    """The old session is gone (deleted, expired or already rotated): nothing was written."""


@dataclass(slots=True, frozen=True)
class Counts:
    live: int
    expired: int


@dataclass(slots=True, frozen=True)
class UserCounts:
    """Live sessions by user, for operators (``sessionary stats``)."""

    users: int
    """Users with at least one live session."""
    sessions: int
    """Live sessions that belong to a user (the rest are anonymous)."""
    top: list[tuple[str, int]]
    """The users with the most live sessions, most first: (user id, sessions)."""
