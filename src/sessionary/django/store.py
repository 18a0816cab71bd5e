"""``SessionStore``: Django's ``SessionBase`` on a sessionary store.

Everything a view can observe (the dict API, ``accessed`` / ``modified``, ``set_expiry``
and the expiry arithmetic, ``flush``, ``cycle_key``) is Django's own code; this class
supplies the storage primitives: the steps of :mod:`sessionary.django.engine`, run on
the store's sync face (:func:`sessionary.shell.run`) or its async one (``arun``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth.signals import user_logged_in
from django.contrib.sessions.backends.base import SessionBase
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone

from .. import expiry
from ..shell import arun, run
from ..stores.base import Record
from ..tokens import new_token
from . import conf, engine, records
from .conf import BATCH_SIZE, get_manager, session_settings

_BASE_VALIDATION = SessionBase.__dict__["_validate_session_key"]
"""Django's own key rule, which SessionStore.__init__ applies inline."""


class SessionStore(SessionBase):
    """A Django session kept in the store ``SESSIONARY_STORE`` names.

    The class is named ``SessionStore`` like every Django backend, so ``key_salt`` (which
    includes the class name) is the one Django's own backends use.
    """

    # sessionary's own state, the same for every new session: class defaults, which an
    # instance replaces once it changes (most requests never load their session).
    _record: Record | None = None
    """The stored record as last loaded or written by this object."""
    _loaded: records.Loaded | None = None
    """The stored values as of that moment: what a save diffs against."""
    _signed_in = False
    """Set by ``user_logged_in``: the next save starts the absolute timeout afresh."""
    _client: tuple[str | None, str | None] | None = None
    """IP address and user agent of the sign-in, with ``SESSIONARY_RECORD_CLIENT``."""

    def __init__(self, session_key: str | None = None) -> None:
        # SessionBase.__init__, with the serializer Django imports from SESSION_SERIALIZER
        # taken from the kept settings: import_string and the settings lookup cost more
        # than the rest of opening a session (tests/djangotests/test_store.py checks that
        # the attributes are SessionBase's). The key is validated as SessionBase's
        # ``_session_key`` setter does it, without the setter's call; by SessionBase's
        # own rule inline unless a subclass has a rule of its own (the test holds the
        # inline rule to SessionBase's).
        if type(self)._validate_session_key is not _BASE_VALIDATION:
            valid = self._validate_session_key(session_key)
        elif session_key and len(session_key) >= 8:
            valid = True
        else:
            valid = False
        self._SessionBase__session_key = session_key if valid else None
        self.accessed = False
        self.modified = False
        self.serializer = (conf.kept_settings or session_settings()).serializer

    if TYPE_CHECKING:
        # Django's own internals, which its type stubs leave out.
        _session_cache: dict[str, Any]
        _SessionBase__session_key: str | None

        def _validate_session_key(self, key: str | None) -> bool: ...

        def _get_session(self, no_load: bool = False) -> dict[str, Any]: ...

        async def _aget_session(self, no_load: bool = False) -> dict[str, Any]: ...

    def is_empty(self) -> bool:
        """``SessionBase.is_empty()`` (asked by the middleware on every response), with
        the key read without its property."""
        if self._SessionBase__session_key:
            return False
        try:
            return not self._session_cache
        except AttributeError:
            return True

    def _forget(self) -> None:
        self._record = None
        self._loaded = None

    def _get_new_session_key(self) -> str:
        """A 256-bit token; no existence check, as the store's atomic create refuses a
        taken key and ``create()`` then draws again."""
        return new_token()

    async def _aget_new_session_key(self) -> str:
        return new_token()

    def set_expiry(self, value: Any) -> None:
        """Django's, but an age no date can hold (``10**12``) raises ``SessionValueError``
        here, naming ``_session_expiry``, instead of ``OverflowError`` at the save."""
        expiry.check_expiry(value, now=timezone.now())
        super().set_expiry(value)

    async def aset_expiry(self, value: Any) -> None:
        expiry.check_expiry(value, now=timezone.now())
        await super().aset_expiry(value)

    def get_session_cookie_age(self) -> int:
        """Django's (``SESSION_COOKIE_AGE``), from the kept settings."""
        age: int = (conf.kept_settings or session_settings()).cookie_age
        return age

    def get_expire_at_browser_close(self) -> bool:
        """Django's, with ``SESSION_EXPIRE_AT_BROWSER_CLOSE`` from the kept settings
        (Django's middleware asks on every response that sets the cookie)."""
        return records.browser_close(self._get_session())

    def get_expiry_age(self, **kwargs: Any) -> int:
        """Django's, without reading the clock when the session sets no expiry of its own
        (Django's middleware asks on every response that sets the cookie): the answer is
        then the cookie age, whatever the moment."""
        if not kwargs and not self.get(expiry.EXPIRY_KEY):
            return self.get_session_cookie_age()
        age: int = super().get_expiry_age(**kwargs)
        return age

    # --- the storage primitives ------------------------------------------------------

    def load(self) -> dict[str, Any]:
        manager = get_manager()
        return run(engine.load(self, manager.context, records.now(), self._get_new_session_key), manager)

    async def aload(self) -> dict[str, Any]:
        manager = get_manager()
        steps = engine.load(self, manager.context, records.now(), self._get_new_session_key)
        return await arun(steps, manager)

    def exists(self, session_key: str | None) -> bool:
        manager = get_manager()
        return run(engine.exists(session_key, manager.context), manager)

    async def aexists(self, session_key: str | None) -> bool:
        manager = get_manager()
        return await arun(engine.exists(session_key, manager.context), manager)

    def create(self) -> None:
        manager = get_manager()
        data = self._get_session(no_load=True)
        run(engine.create(self, data, manager.context, records.now(), self._get_new_session_key), manager)

    async def acreate(self) -> None:
        manager = get_manager()
        data = await self._aget_session(no_load=True)
        steps = engine.create(self, data, manager.context, records.now(), self._get_new_session_key)
        await arun(steps, manager)

    def save(self, must_create: bool = False) -> None:
        if self.session_key is None:
            self.create()
            return
        data = self._get_session(no_load=must_create)
        manager = get_manager()
        moment = records.now()
        if not must_create and engine.rolls_without_write(self, data, manager.config, moment):
            return  # SESSION_SAVE_EVERY_REQUEST, nothing changed, no touch due: nothing to do
        run(engine.save(self, data, must_create, manager.context, moment), manager)

    async def asave(self, must_create: bool = False) -> None:
        if self.session_key is None:
            await self.acreate()
            return
        data = await self._aget_session(no_load=must_create)
        manager = get_manager()
        moment = records.now()
        if not must_create and engine.rolls_without_write(self, data, manager.config, moment):
            return
        await arun(engine.save(self, data, must_create, manager.context, moment), manager)

    def delete(self, session_key: str | None = None) -> None:
        manager = get_manager()
        run(engine.delete(self, session_key, manager.context), manager)

    async def adelete(self, session_key: str | None = None) -> None:
        manager = get_manager()
        await arun(engine.delete(self, session_key, manager.context), manager)

    def cycle_key(self) -> None:
        data = self._get_session()
        manager = get_manager()
        steps = engine.cycle_key(self, data, manager.context, records.now(), self._get_new_session_key)
        run(steps, manager)

    async def acycle_key(self) -> None:
        data = await self._aget_session()
        manager = get_manager()
        steps = engine.cycle_key(self, data, manager.context, records.now(), self._get_new_session_key)
        await arun(steps, manager)

    @classmethod
    def clear_expired(cls) -> None:
        """Delete expired sessions in short batches (``manage.py clearsessions``)."""
        for _ in get_manager().clear_expired(BATCH_SIZE):
            pass

    @classmethod
    async def aclear_expired(cls) -> None:
        async for _ in get_manager().aclear_expired(BATCH_SIZE):
            pass


@receiver(user_logged_in, dispatch_uid="sessionary.django.signed_in")
def _signed_in(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    """A sign-in through ``django.contrib.auth``: restart the absolute timeout at the next
    save and, with ``SESSIONARY_RECORD_CLIENT``, note the client for the device list."""
    session = getattr(request, "session", None)
    if not isinstance(session, SessionStore) or request is None:
        return
    session._signed_in = True
    if get_manager().config.record_client:
        agent = request.META.get("HTTP_USER_AGENT")
        session._client = (request.META.get("REMOTE_ADDR"), agent[:512] if agent else None)
