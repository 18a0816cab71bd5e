"""A signed-in user's sessions, from a Django request: list them, end one, end the others.

Sessions are indexed by the ``_auth_user_id`` that ``django.contrib.auth`` keeps in the
session (copied into the record's metadata at every save), so these work for any user
model. For an admin or a script, :func:`sessionary.django.get_manager` gives the
manager's ``list_sessions`` / ``revoke`` / ``revoke_all`` by user id.
"""

from __future__ import annotations

from dataclasses import replace

from django.http import HttpRequest

from ..devices import Device, by_recency
from ..events import REVOKED
from ..tokens import handle as key_handle
from . import records
from .conf import get_manager


def session_user(request: HttpRequest) -> str | None:
    """The user id this request's session is indexed under (None when signed out)."""
    return records.user_id(dict(request.session.items()))


def current_handle(request: HttpRequest) -> str | None:
    """The handle (as in the device list) of this request's own session."""
    key = records.key_for(request.session.session_key, get_manager().config)
    return None if key is None else key_handle(key)


def list_devices(request: HttpRequest) -> list[Device]:
    """The signed-in user's live sessions, this one first and marked ``current``."""
    user = session_user(request)
    if user is None:
        return []
    current = current_handle(request)
    devices = get_manager().list_sessions(user)
    return by_recency([replace(device, current=device.handle == current) for device in devices])


def revoke_device(request: HttpRequest, handle: str) -> bool:
    """End one of the signed-in user's sessions; a handle of anyone else's does nothing."""
    user = session_user(request)
    return user is not None and get_manager().revoke(user, handle)


def revoke_other_devices(request: HttpRequest) -> int:
    """ "Log out everywhere else": end every other session of the user, and refuse any
    the index may have missed. This session moves to a new key issued now, so it stays."""
    user = session_user(request)
    if user is None:
        return 0
    session = request.session
    session.cycle_key()
    record = getattr(session, "_record", None)
    key = records.key_for(session.session_key, get_manager().config)
    valid_after = record.meta.issued_at if record is not None else records.now().epoch
    manager = get_manager()
    count = manager.store.sync.revoke_user(user, valid_after, key)
    manager.emit(REVOKED, None, user_id=user, reason=f"all other sessions revoked ({count})")
    return count
