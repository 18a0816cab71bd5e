"""``SessionStore``: Django's ``SessionBase`` on a sessionary store.

Everything a view can observe (the dict API, ``accessed`` / ``modified``, ``set_expiry``
and the expiry arithmetic, ``flush``, ``cycle_key``) is Django's own code; this class
supplies the storage primitives, sync and async, from :mod:`sessionary._sync.django_session`
and :mod:`sessionary._async.django_session` (one source, the async one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth.signals import user_logged_in
from django.contrib.sessions.backends.base import SessionBase
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone

from .. import expiry
from .._async import django_session as async_ops
from .._sync import django_session as sync_ops
from ..stores.base import Record
from ..tokens import new_token


class SessionStore(SessionBase):
    """A Django session kept in the store ``SESSIONARY_STORE`` names.

    The class is named ``SessionStore`` like every Django backend, so ``key_salt`` (which
    includes the class name) is the one Django's own backends use.
    """

    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        self._record: Record | None = None
        """The stored record as last loaded or written by this object."""
        self._loaded: dict[str, str] | None = None
        """Each stored value's JSON text as of that moment: what a save diffs against."""
        self._signed_in = False
        """Set by ``user_logged_in``: the next save starts the absolute timeout afresh."""
        self._client: tuple[str | None, str | None] | None = None
        """IP address and user agent of the sign-in, with ``SESSIONARY_RECORD_CLIENT``."""

    if TYPE_CHECKING:
        # Django's own internals, which its type stubs leave out.
        _session_cache: dict[str, Any]

        def _get_session(self, no_load: bool = False) -> dict[str, Any]: ...

        async def _aget_session(self, no_load: bool = False) -> dict[str, Any]: ...

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

    # --- the storage primitives ------------------------------------------------------

    def load(self) -> dict[str, Any]:
        return sync_ops.load(self)

    async def aload(self) -> dict[str, Any]:
        return await async_ops.load(self)

    def exists(self, session_key: str | None) -> bool:
        return sync_ops.exists(session_key)

    async def aexists(self, session_key: str | None) -> bool:
        return await async_ops.exists(session_key)

    def create(self) -> None:
        sync_ops.create(self)

    async def acreate(self) -> None:
        await async_ops.create(self)

    def save(self, must_create: bool = False) -> None:
        sync_ops.save(self, must_create)

    async def asave(self, must_create: bool = False) -> None:
        await async_ops.save(self, must_create)

    def delete(self, session_key: str | None = None) -> None:
        sync_ops.delete(self, session_key)

    async def adelete(self, session_key: str | None = None) -> None:
        await async_ops.delete(self, session_key)

    def cycle_key(self) -> None:
        sync_ops.cycle_key(self)

    async def acycle_key(self) -> None:
        await async_ops.cycle_key(self)

    @classmethod
    def clear_expired(cls) -> None:
        sync_ops.clear_expired()

    @classmethod
    async def aclear_expired(cls) -> None:
        await async_ops.clear_expired()


@receiver(user_logged_in, dispatch_uid="sessionary.django.signed_in")
def _signed_in(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    """A sign-in through ``django.contrib.auth``: restart the absolute timeout at the next
    save and, with ``SESSIONARY_RECORD_CLIENT``, note the client for the device list."""
    session = getattr(request, "session", None)
    if not isinstance(session, SessionStore) or request is None:
        return
    session._signed_in = True
    from .conf import get_manager

    if get_manager().config.record_client:
        agent = request.META.get("HTTP_USER_AGENT")
        session._client = (request.META.get("REMOTE_ADDR"), agent[:512] if agent else None)
