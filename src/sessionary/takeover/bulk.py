"""The bulk form of the take-over, for old stores that can be scanned (Redis, SQL).

Each live Flask-Session record is moved into the sessionary store under the SHA-256 of
its session id (Flask-Session's ids, ``secrets.token_urlsafe(32)``, have the shape of a
sessionary token), with the old expiry, then deleted from the old store. The browser's
cookie then opens it as a sessionary token: name sessionary's cookie as Flask-Session's
(``cookie_name="session"``). A run that stops half-way is resumed by running it again:
what was moved is gone from the old store, what was copied but not yet deleted is found
present and deleted now.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .. import expiry
from .._sync.takeover import storable
from ..manager import SessionManager
from ..stores.base import Meta, Record
from ..tokens import is_well_formed, store_key
from .base import OldSession, user_id
from .flask_session import FlaskSessionRedis, FlaskSessionSQL


@dataclass
class BulkReport:
    moved: int = 0
    present: int = 0
    """Copied by an earlier run (their old copy is deleted now)."""
    unreadable: int = 0
    """Neither msgpack nor JSON (pickle from an old Flask-Session): left in place."""
    odd_ids: int = 0
    """Ids not shaped like a sessionary token (a custom ``SESSION_ID_LENGTH``): left in
    place, for the per-request take-over."""
    refused_keys: dict[str, int] = field(default_factory=dict)
    """Data keys whose values JSON cannot hold, with how many sessions lost them."""

    @property
    def seen(self) -> int:
        return self.moved + self.present + self.unreadable + self.odd_ids


def move_flask_sessions(
    manager: SessionManager,
    source: FlaskSessionRedis | FlaskSessionSQL,
    *,
    batch_size: int = 500,
    progress: Callable[[BulkReport], None] | None = None,
) -> BulkReport:
    """Move every live session of ``source`` into ``manager``'s store; see the module."""
    if manager.store.codec is not None:
        raise ValueError(f"{manager.store.name} keeps no sessions to move into")
    report = BulkReport()
    for batch in source.scan(manager.now(), batch_size):
        for old in batch:
            if isinstance(old, str):
                report.unreadable += 1
            else:
                _move(manager, source, old, report)
        if progress is not None:
            progress(report)
    return report


def _move(
    manager: SessionManager, source: FlaskSessionRedis | FlaskSessionSQL, old: OldSession, report: BulkReport
) -> None:
    sid = old.identity[len(source.key_prefix) :]
    if not is_well_formed(sid):
        report.odd_ids += 1
        return
    now = manager.now()
    refused: list[str] = []
    data = storable(source.name, old.data, manager.config.max_value_bytes, refused=refused)
    for key in refused:
        report.refused_keys[key] = report.refused_keys.get(key, 0) + 1
    meta = Meta(
        created_at=now, issued_at=now, last_seen=now, saved_deadline=old.expires_at, user_id=user_id(data)
    )
    deadline = expiry.deadline(meta, browser_close=False, config=manager.config)
    if manager.store.sync.create(Record(store_key(sid), data, meta, deadline), now):
        report.moved += 1
    else:
        report.present += 1
    source.retire(old)
