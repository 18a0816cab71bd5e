"""Copy sessions from Django's ``django_session`` table into the sessionary store.

Each live row is decoded by the Django engine that wrote it (its ``SESSION_SERIALIZER``,
``SECRET_KEY`` and ``SECRET_KEY_FALLBACKS``) and stored under the SHA-256 of its old key,
with its ``expire_date`` as the deadline, so a signed-in user stays signed in. The old
32-character keys are found only with ``SESSIONARY_ACCEPT_DJANGO_KEYS = True``; each is
replaced by a sessionary token at the session's next ``cycle_key`` (sign-in, password
change) or ends with the session.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any

from ..stores.base import Meta, Record
from ..tokens import is_well_formed, store_key
from . import records
from .conf import get_manager
from .store import SessionStore

DJANGO_DB_ENGINE = "django.contrib.sessions.backends.db"


class ImportFailed(Exception):
    """The old engine cannot be read (no table behind it)."""


@dataclass
class ImportReport:
    imported: int = 0
    present: int = 0
    """Already in the store (an earlier run): left as they are."""
    empty: int = 0
    """No data, or data the old engine could not read (a changed SECRET_KEY): not copied."""
    odd_keys: int = 0
    """Keys Django never issues (not 32 characters of ``[a-z0-9]``): not copied."""


def import_sessions(
    engine: str = DJANGO_DB_ENGINE, *, dry_run: bool = False, batch_size: int = 500
) -> ImportReport:
    """Copy every unexpired session of ``engine``'s table; safe to run again."""
    old_store: Any = import_module(engine).SessionStore
    get_model = getattr(old_store, "get_model_class", None)
    if get_model is None:
        raise ImportFailed(f"{engine} keeps no table of sessions to import (only db and cached_db do)")
    model = get_model()
    manager = get_manager()
    ours = SessionStore()
    moment = records.now()
    report = ImportReport()
    rows = model.objects.filter(expire_date__gt=moment.when).order_by("pk")
    for row in rows.iterator(chunk_size=batch_size):
        key = row.session_key
        if not is_well_formed(key, accept_django_keys=True):
            report.odd_keys += 1
            continue
        data = old_store().decode(row.session_data)
        if not data:
            report.empty += 1
            continue
        values = records.to_store(ours, data)
        records.encode(values)  # refuse a value the store cannot keep before writing anything
        meta = Meta(
            created_at=moment.epoch,
            issued_at=moment.epoch,
            last_seen=moment.epoch,
            saved_deadline=records.epoch(row.expire_date),
            user_id=records.user_id(values),
        )
        record = Record(store_key(key), values, meta, records.deadline(meta, values, manager.config))
        if dry_run:
            present = manager.store.sync.exists(record.key)
        else:
            present = not manager.store.sync.create(record, moment.epoch)
        if present:
            report.present += 1
        else:
            report.imported += 1
    return report
