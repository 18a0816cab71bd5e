"""What a Django session becomes in a sessionary store, and back: no I/O here.

Django's ``SessionBase`` keeps the data, the flags and the expiry arithmetic; this module
turns its data into the JSON values a store keeps (through ``SESSION_SERIALIZER``), works
out what a save changes (a diff against what was loaded), and builds the record's
metadata. The deadline itself comes from :mod:`sessionary.expiry`, fed with Django's own
``get_expiry_date()`` at save time, exactly what Django's ``db`` backend stores.
"""

from __future__ import annotations

from datetime import UTC, datetime
from operator import is_
from typing import TYPE_CHECKING, Any, NamedTuple

from django.contrib.sessions.backends.base import SessionBase
from django.contrib.sessions.serializers import JSONSerializer
from django.utils import timezone

from .. import expiry
from ..errors import SessionValueError
from ..limits import check_session_size
from ..serializer import decode_value, encode_ascii, encode_stored, encode_value, session_key_name
from ..stores.base import Change, Meta
from ..tokens import is_well_formed, store_key
from . import conf

if TYPE_CHECKING:
    from ..config import Config
    from .store import SessionStore

USER_KEY = "_auth_user_id"
"""Where ``django.contrib.auth`` keeps the signed-in user's id (``SESSION_KEY``)."""


class Moment(NamedTuple):
    """One instant in Django's terms (aware or naive as ``USE_TZ`` says) and as epoch
    seconds (a tuple: every save and load makes one)."""

    when: datetime
    epoch: float


_DJANGO_NOW = timezone.now


def now() -> Moment:
    """Django's ``timezone.now()``, so a test that moves Django's clock moves ours too
    (Django's own answers ``datetime.now()`` in UTC or naive as ``USE_TZ`` says: that,
    with the setting kept, saves its lookup on every load and save)."""
    if timezone.now is _DJANGO_NOW:
        when = datetime.now(UTC if (conf.kept_settings or conf.session_settings()).use_tz else None)
    else:
        when = timezone.now()
    return Moment(when, when.timestamp())


def epoch(moment: datetime) -> float:
    """Epoch seconds of a Django datetime; a naive one is local time, as with ``USE_TZ = False``."""
    return moment.timestamp()


def key_for(session_key: str | None, config: Config) -> bytes | None:
    """The store key of a cookie value, or None when it is not shaped like a token (no lookup)."""
    if session_key is None or not is_well_formed(session_key, accept_django_keys=config.accept_django_keys):
        return None
    return store_key(session_key)


# --- values ------------------------------------------------------------------------------


def _plain_serializer(session: SessionStore) -> bool:
    return session.serializer is JSONSerializer


def to_store(session: SessionStore, data: dict[Any, Any]) -> dict[str, Any]:
    """The session's data as the JSON values a store keeps, through ``SESSION_SERIALIZER``.

    For Django's own ``JSONSerializer`` the values are already what JSON keeps, so only the
    key names are normalised (``1`` becomes ``"1"``, as a JSON round trip would do).
    """
    if _plain_serializer(session):
        return {session_key_name(key): value for key, value in data.items()}
    loaded: dict[str, Any] = decode_value(session.serializer().dumps(data))
    return loaded


def from_store(session: SessionStore, values: dict[str, Any]) -> dict[str, Any]:
    """The data a view sees, from what the store keeps (``SESSION_SERIALIZER.loads``).

    A serializer that fails to read the data gives an empty session, as with Django's
    ``decode``.
    """
    if _plain_serializer(session):
        return values
    try:
        loaded: dict[str, Any] = session.serializer().loads(encode_ascii(values).encode())
    except Exception:
        return {}
    return loaded


def encode(
    values: dict[str, Any], *, max_bytes: int | None = None, max_session_bytes: int | None = None
) -> dict[str, str]:
    """Each value's JSON text; a value that cannot be stored raises ``SessionValueError``
    (a ``TypeError``, as Django's serializer raises) naming the key, before any write, and
    so does a session over ``max_session_bytes`` in all (``SessionTooLarge``)."""
    encoded = {
        session_key_name(key): encode_value(key, value, max_bytes=max_bytes) for key, value in values.items()
    }
    check_session_size(encoded, max_session_bytes)
    return encoded


_IMMUTABLE = frozenset({str, int, float, bool, type(None)})
"""The JSON values no view can change in place: the same object is the same value."""
_MISSING: Any = object()


class Loaded:
    """What the store held when this session was loaded or last saved: the values, and
    the JSON text of those a view can change in place (lists, objects), taken then.

    A save compares the data against it to write only what changed, and a save that only
    ``SESSION_SAVE_EVERY_REQUEST`` asks for finds that nothing did without encoding the
    values that are still the very objects loaded (strings, numbers).
    """

    __slots__ = ("texts", "values")

    def __init__(self, values: dict[str, Any], texts: dict[str, str] | None = None) -> None:
        self.values = dict(values)
        self.texts = {
            key: encode_stored(value) if texts is None else texts[key]
            for key, value in values.items()
            if type(value) not in _IMMUTABLE
        }

    def text(self, key: str) -> str | None:
        """The JSON text ``key`` held, or None if it held nothing."""
        before = self.values.get(key, _MISSING)
        if before is _MISSING:
            return None
        known = self.texts.get(key)
        return encode_stored(before) if known is None else known

    def holds(self, key: str, value: Any) -> bool:
        """Whether ``value`` is for certain what ``key`` held, with no encoding: the very
        object loaded, of a kind no one can change in place."""
        return self.values.get(key, _MISSING) is value and type(value) in _IMMUTABLE


def unchanged(session: SessionStore, data: dict[Any, Any]) -> bool:
    """Whether ``data`` is exactly what was loaded (or last saved), in-place changes of a
    list or an object included; False when that takes a full comparison to tell."""
    loaded = session._loaded
    if loaded is None or not _plain_serializer(session) or len(data) != len(loaded.values):
        return False
    values, texts = loaded.values, loaded.texts
    if all(map(is_, data, values)) and all(map(is_, data.values(), values.values())):
        # The very keys and values loaded, in order (most such saves, told in two C
        # loops): only those a view can change in place need their JSON compared.
        return all(encode_value(key, data[key]) == text for key, text in texts.items())
    for key, value in data.items():
        if values.get(key, _MISSING) is value and type(value) in _IMMUTABLE:
            continue  # Loaded.holds, inline: this loop runs for every key of every such save
        if type(key) is not str or type(value) in _IMMUTABLE or key not in texts:
            return False  # a value replaced without a save's flag: let the diff tell
        if encode_value(key, value) != texts[key]:
            return False
    return True


def diff(values: dict[str, Any], encoded: dict[str, str], loaded: Loaded | None) -> Change:
    """The keys a save must write: those whose JSON differs from what was loaded.

    Comparing JSON text also catches values mutated in place. Without a loaded copy
    (``clear()`` replaces the data without loading it) the whole data is written.
    """
    if loaded is None:
        return Change(set=dict(encoded), cleared=True)
    return Change(
        set={
            key: text
            for key, text in encoded.items()
            if not loaded.holds(key, values[key]) and loaded.text(key) != text
        },
        removed=frozenset(loaded.values.keys() - encoded.keys()),
    )


# --- metadata ----------------------------------------------------------------------------


def user_id(values: dict[str, Any]) -> str | None:
    value = values.get(USER_KEY)
    return None if value is None else str(value)


def browser_close(values: dict[str, Any]) -> bool:
    return expiry.expire_at_browser_close(
        values.get(expiry.EXPIRY_KEY),
        default=(conf.kept_settings or conf.session_settings()).expire_at_browser_close,
    )


def saved_deadline(session: SessionStore, moment: Moment) -> float:
    """Django's ``get_expiry_date()`` at this save: the deadline Django's db backend stores.

    With Django's own ``get_expiry_date``, an aware clock (``USE_TZ``) and an age in whole
    seconds (the default), that is :func:`sessionary.expiry.expiry_timestamp`, the same
    float without the datetimes; a naive clock's arithmetic is local time's, so it and
    anything else ask Django.
    """
    stored = session.get(expiry.EXPIRY_KEY)
    if (
        (stored is None or type(stored) is int)
        and moment.when.tzinfo is not None
        and type(session).get_expiry_date is SessionBase.get_expiry_date
    ):
        seconds = stored or session.get_session_cookie_age()
        if type(seconds) is int:
            try:
                return expiry.expiry_timestamp(None, now=moment.epoch, cookie_age=seconds)
            except SessionValueError:
                pass  # no date holds it: Django's arithmetic below says so in its words
    try:
        return epoch(session.get_expiry_date(modification=moment.when))
    except (OverflowError, ValueError):
        stored = session.get(expiry.EXPIRY_KEY)
        raise SessionValueError(
            expiry.EXPIRY_KEY, f"an expiry of {stored!r} seconds from now is no date"
        ) from None


def sign_in(session: SessionStore, user: str | None, previous: str | None, moment: Moment) -> dict[str, Any]:
    """Metadata of a sign-in: a user newly in the data, or a ``user_logged_in`` signal."""
    if user is None or (user == previous and not session._signed_in):
        return {}
    changes: dict[str, Any] = {"auth_at": moment.epoch}
    if session._client is not None:
        changes["ip"], changes["user_agent"] = session._client
    return changes


def new_meta(session: SessionStore, values: dict[str, Any], moment: Moment) -> Meta:
    user = user_id(values)
    meta = Meta(
        created_at=moment.epoch,
        issued_at=moment.epoch,
        last_seen=moment.epoch,
        saved_deadline=saved_deadline(session, moment),
        user_id=user,
    )
    for name, value in sign_in(session, user, None, moment).items():
        setattr(meta, name, value)
    return meta


def moved_meta(
    session: SessionStore, values: dict[str, Any], previous: Meta, moment: Moment
) -> dict[str, Any]:
    """The metadata a save changes: activity, Django's deadline, and the user if it changed."""
    user = user_id(values)
    moved: dict[str, Any] = {"last_seen": moment.epoch, "saved_deadline": saved_deadline(session, moment)}
    if user != previous.user_id:
        moved["user_id"] = user
    moved.update(sign_in(session, user, previous.user_id, moment))
    return moved


def deadline(meta: Meta, values: dict[str, Any], config: Config) -> float:
    return expiry.deadline(meta, browser_close=browser_close(values), config=config)


def newly_signed_in(meta: Meta, previous_user: str | None) -> str | None:
    """The user who signed in with this save, for the session limit."""
    return meta.user_id if meta.user_id is not None and meta.user_id != previous_user else None
