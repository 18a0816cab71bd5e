# Generated from the async source by scripts/unasync.py: edit that file, not this one.
"""The PostgreSQL store's work, written once for both faces (``postgresql://``).

Every operation is one SQL statement on an autocommit connection: one round trip and its
own short transaction. The statement that writes also checks that the record is live
(deadline, revocation, alias), so no other request can slip in between a check and a
write. ``PostgresBackend`` is the source; ``PostgresBackend`` (``_sync.py`` beside it)
is generated from it. Each face keeps one connection, opened on first use (so an app that
uses one face never connects with the other), with each statement prepared on it the first
time it runs; a caller that finds it busy takes a connection of the face's psycopg pool,
opened only then. URL options and the schema live in :mod:`sessionary.stores.postgres`.
"""

from __future__ import annotations

import hashlib
import os
import re
import select
import threading
from asyncio import AbstractEventLoop
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any, Self

import psycopg
from psycopg import Connection
from psycopg.rows import TupleRow
from psycopg_pool import ConnectionPool, PoolTimeout

from ...errors import SessionValueError, StoreCorrupted, StoreUnavailable
from ...serializer import decode_value, encode_mapping, encode_stored, encode_value
from ..backend._sync import Backend
from ..base import Change, Counts, Kept, Meta, Record, Rotation, Summary, Swap, UserCounts
from . import UPGRADE_DATA_TO_JSON, PostgresSettings
from ._listen import Listener

# A record counts only if it is live: its deadline ahead and, if its user was revoked
# after its token was issued, refused. Aliases are checked on both rows they join.
# data and meta come back as text, decoded by the stdlib json (psycopg's jsonb loader
# would decode bytes, detecting their encoding first, for the same result).
_LOAD = """
SELECT s.key, s.data::text, s.meta::text, s.expires_at
FROM {sessions} AS a
JOIN {sessions} AS s ON s.key = coalesce(a.alias_of, a.key)
WHERE a.key = %(key)s AND a.expires_at > %(now)s
  AND s.expires_at > %(now)s AND s.alias_of IS NULL
  AND NOT EXISTS (SELECT 1 FROM {users} AS u WHERE u.user_id = a.user_id AND a.issued_at < u.valid_after)
  AND NOT EXISTS (SELECT 1 FROM {users} AS u WHERE u.user_id = s.user_id AND s.issued_at < u.valid_after)
"""


def _merged(base: str, removed: str, changes: str) -> str:
    """SQL for the JSON object ``base`` without the keys ``removed`` (a text[]), then with
    ``changes`` (a JSON object) set, as a Python dict update would: a changed key keeps
    its place, a new one goes last. The data column is ``json``, which keeps the text as
    written (jsonb would sort the keys and rewrite numbers), and so does this merge:
    json_each hands out each value's text, json_object_agg puts it back unchanged.
    Braces come out doubled, for the ``str.format`` that names the tables."""
    kept = f"b.key <> ALL ({removed})"
    return f"""(SELECT coalesce(json_object_agg(m.k, m.v ORDER BY m.g, m.o), '{{{{}}}}'::json) FROM (
        SELECT b.key AS k, coalesce(c.value, b.value) AS v, 0 AS g, b.o AS o
        FROM json_each({base}) WITH ORDINALITY AS b(key, value, o)
        LEFT JOIN json_each({changes}) AS c ON c.key = b.key
        WHERE {kept}
      UNION ALL
        SELECT c.key, c.value, 1, c.o
        FROM json_each({changes}) WITH ORDINALITY AS c(key, value, o)
        WHERE NOT EXISTS (SELECT 1 FROM json_each({base}) AS b WHERE b.key = c.key AND {kept})
    ) AS m)"""


_CREATE = """
INSERT INTO {sessions} AS t (key, data, meta, user_id, issued_at, expires_at, alias_of)
VALUES (%(key)s, %(data)s::json, %(meta)s::jsonb, %(user_id)s, %(issued_at)s, %(expires_at)s, NULL)
ON CONFLICT (key) DO UPDATE SET
    data = excluded.data, meta = excluded.meta, user_id = excluded.user_id,
    issued_at = excluded.issued_at, expires_at = excluded.expires_at, alias_of = NULL
WHERE t.expires_at <= %(now)s
"""

# Only the changed keys travel; the merge happens in the row, under its lock, so two
# requests changing different keys both survive. No live row (following an alias): no
# row updated, nothing written.
_WRITE = """
UPDATE {sessions} AS s
SET data = %s,
    meta = s.meta || %%(meta)s::jsonb,
    user_id = (s.meta || %%(meta)s::jsonb) ->> 'user_id',
    expires_at = %%(expires_at)s
FROM {sessions} AS a
WHERE a.key = %%(key)s AND s.key = coalesce(a.alias_of, a.key)
  AND a.expires_at > %%(now)s AND s.expires_at > %%(now)s AND s.alias_of IS NULL
  AND NOT EXISTS (SELECT 1 FROM {users} AS u WHERE u.user_id = a.user_id AND a.issued_at < u.valid_after)
  AND NOT EXISTS (SELECT 1 FROM {users} AS u WHERE u.user_id = s.user_id AND s.issued_at < u.valid_after)
RETURNING s.key, s.data::text, s.meta::text, s.expires_at, s.user_id
"""
_WRITE_MERGE = _WRITE % _merged("s.data", "%(removed)s::text[]", "%(set)s::json")
_WRITE_CLEARED = _WRITE % "%(set)s::json"

_TOUCH = """
UPDATE {sessions} AS s
SET meta = s.meta || jsonb_build_object(
        'last_seen', greatest((s.meta ->> 'last_seen')::float8, %(last_seen)s::float8),
        'saved_deadline', greatest((s.meta ->> 'saved_deadline')::float8, %(saved_deadline)s::float8)),
    expires_at = greatest(s.expires_at, %(expires_at)s::float8)
WHERE s.key = %(key)s AND s.alias_of IS NULL AND s.expires_at > %(now)s
  AND NOT EXISTS (SELECT 1 FROM {users} AS u WHERE u.user_id = s.user_id AND s.issued_at < u.valid_after)
RETURNING s.key, s.data::text, s.meta::text, s.expires_at, s.user_id
"""

# A compare-and-set of one key: the row is found live (through an alias), then updated
# only if the key still holds the expected value, re-checked on the row's latest version
# once its lock is held. Live but not updated: a conflict.
_SWAP = """
WITH target AS (
    SELECT s.key FROM {sessions} AS a
    JOIN {sessions} AS s ON s.key = coalesce(a.alias_of, a.key)
    WHERE a.key = %(key)s AND a.expires_at > %(now)s AND s.expires_at > %(now)s AND s.alias_of IS NULL
      AND NOT EXISTS (SELECT 1 FROM {users} AS u WHERE u.user_id = a.user_id AND a.issued_at < u.valid_after)
      AND NOT EXISTS (SELECT 1 FROM {users} AS u WHERE u.user_id = s.user_id AND s.issued_at < u.valid_after)
), swapped AS (
    UPDATE {sessions} AS s
    SET data = CASE WHEN %(value)s::json IS NULL THEN {removed}
                    ELSE {replaced} END
    FROM target
    WHERE s.key = target.key AND s.expires_at > %(now)s
      AND (s.data::jsonb -> %(name)s::text) IS NOT DISTINCT FROM %(expected)s::jsonb
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM target), EXISTS (SELECT 1 FROM swapped)
""".replace("{removed}", _merged("s.data", "ARRAY[%(name)s::text]", "'{{}}'::json")).replace(
    "{replaced}", _merged("s.data", "'{{}}'::text[]", "json_build_object(%(name)s::text, %(value)s::json)")
)

# One statement, so one transaction: the old row is locked, the new one inserted only if
# the old was live (with the old row's data as it is now, this request's changes applied),
# and the old retired only if the new key was free.
_ROTATE = """
WITH old AS (
    SELECT s.key, s.data FROM {sessions} AS s
    WHERE s.key = %%(old)s AND s.alias_of IS NULL AND s.expires_at > %%(now)s
      AND NOT EXISTS (SELECT 1 FROM {users} AS u WHERE u.user_id = s.user_id AND s.issued_at < u.valid_after)
    FOR UPDATE
), created AS (
    INSERT INTO {sessions} AS t (key, data, meta, user_id, issued_at, expires_at, alias_of)
    SELECT %%(key)s, %s, %%(meta)s::jsonb, %%(user_id)s::text, %%(issued_at)s::float8,
           %%(expires_at)s::float8, NULL
    FROM old
    ON CONFLICT (key) DO UPDATE SET
        data = excluded.data, meta = excluded.meta, user_id = excluded.user_id,
        issued_at = excluded.issued_at, expires_at = excluded.expires_at, alias_of = NULL
    WHERE t.expires_at <= %%(now)s
    RETURNING t.key
), retired AS (
    %s
)
SELECT EXISTS (SELECT 1 FROM old), EXISTS (SELECT 1 FROM created)
"""
_MERGED = _merged("old.data", "%(removed)s::text[]", "%(data)s::json")
_REPLACED = "%(data)s::json"
_DROP = "DELETE FROM {sessions} WHERE key = %(old)s AND EXISTS (SELECT 1 FROM created)"
_ALIAS = (
    "UPDATE {sessions} SET data = '{{}}'::json, alias_of = %(key)s,"
    " expires_at = least(expires_at, %(grace_until)s::float8)"
    " WHERE key = %(old)s AND EXISTS (SELECT 1 FROM created)"
)
_ROTATE_DROP = _ROTATE % (_MERGED, _DROP)
_ROTATE_ALIAS = _ROTATE % (_MERGED, _ALIAS)
_ROTATE_DROP_CLEARED = _ROTATE % (_REPLACED, _DROP)
_ROTATE_ALIAS_CLEARED = _ROTATE % (_REPLACED, _ALIAS)

_DELETE = "DELETE FROM {sessions} WHERE key = %(key)s"
_EXISTS = "SELECT 1 FROM {sessions} WHERE key = %(key)s"

# One batch: at most ``limit`` expired rows, in deadline order from where the previous
# batch stopped (so no batch rescans the dead index entries of the ones before), rows a
# writer holds skipped rather than waited for. Each batch is its own short transaction.
_CLEAR_BATCH = """
WITH batch AS (
    SELECT key FROM {sessions}
    WHERE expires_at <= %(now)s AND expires_at >= %(after)s::float8
    ORDER BY expires_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), gone AS (
    DELETE FROM {sessions} WHERE key = ANY (ARRAY (SELECT key FROM batch))
    RETURNING expires_at
)
SELECT count(*), max(expires_at) FROM gone
"""

_COUNT = "SELECT count(*) FILTER (WHERE expires_at > %(now)s), count(*) FROM {sessions}"

_USER_SESSIONS = """
WITH pruned AS (
    DELETE FROM {sessions} WHERE user_id = %(user_id)s AND expires_at <= %(now)s
)
SELECT s.key, s.meta, s.expires_at FROM {sessions} AS s
WHERE s.user_id = %(user_id)s AND s.alias_of IS NULL AND s.expires_at > %(now)s
  AND NOT EXISTS (SELECT 1 FROM {users} AS u WHERE u.user_id = s.user_id AND s.issued_at < u.valid_after)
ORDER BY s.issued_at, s.key
"""

_DELETE_USER_SESSION = "DELETE FROM {sessions} WHERE key = %(key)s AND user_id = %(user_id)s"

_REVOKE_USER = """
WITH marked AS (
    INSERT INTO {users} AS u (user_id, valid_after) VALUES (%(user_id)s, %(valid_after)s)
    ON CONFLICT (user_id) DO UPDATE SET valid_after = greatest(u.valid_after, excluded.valid_after)
)
DELETE FROM {sessions} WHERE user_id = %(user_id)s AND key IS DISTINCT FROM %(keep)s::bytea
"""

# JSONB refuses the NUL character (an escaped one: a literal backslash before it is fine).
_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")

Rows = list[tuple[Any, ...]]

_IDLE = psycopg.pq.TransactionStatus.IDLE


class _KeptConnection(Connection[TupleRow]):
    """A face's kept connection. Collected while open (its store dropped without
    ``close()``, as an app built per test is), it closes its socket quietly, as a pool's
    connections do, instead of warning."""

    def __del__(self, *args: Any) -> None:
        pgconn = getattr(self, "pgconn", None)
        if pgconn is not None and not self.closed:
            pgconn.finish()


def _poller(conn: Connection[TupleRow]) -> Callable[[], bool]:
    """A check of whether the server has sent something on ``conn`` while it runs no
    statement: on a connection without ``LISTEN``, that is its goodbye (a terminated
    backend's FATAL message, a shutdown, the end of the stream). One ``poll`` with no
    wait, no round trip."""
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN)
    poll = poller.poll

    def readable() -> bool:
        try:
            return bool(poll(0))
        except OSError:
            return True

    return readable


# Take a lease that is free, has ended or is already the holder's, in one statement.
_LEASE = """
INSERT INTO {leases} AS t (name, holder, until) VALUES (%(name)s, %(holder)s, %(until)s)
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
WHERE t.until <= %(now)s OR t.holder = excluded.holder
"""


class PostgresBackend(Backend):
    """Sessions in two tables of a PostgreSQL database, through a kept connection and a
    lazily opened pool for the callers that find it busy."""

    def __init__(self, settings: PostgresSettings, near: Listener | None = None) -> None:
        self.settings = settings
        self._near = near  # the store's near-cache in this process, shared by both faces
        self.name = settings.name
        self._queries = {
            template: template.format(sessions=settings.tables.sessions, users=settings.tables.users)
            for template in _TEMPLATES
        }
        # The kept connection: the one every operation uses when no other holds it.
        self._kept: Connection[TupleRow] | None = None
        self._kept_readable: Callable[[], bool] = bool
        self._kept_lock = threading.Lock()  # taken without waiting: a busy one sends to the pool
        # The pool: for operations that find the kept connection busy (several threads or
        # tasks at once), and for maintenance while it is.
        self._pool: ConnectionPool[Connection[TupleRow]] | None = None
        # The process and event loop the connections above belong to.
        self._owner_pid = os.getpid()
        self._owner_loop: AbstractEventLoop | None = None
        self._inherited: list[object] = []
        self._lock = threading.Lock()
        self._connect_error: psycopg.Error | None = None

    # --- connections -----------------------------------------------------------------

    def _own(self, loop: AbstractEventLoop | None) -> None:
        """Make this process and event loop the owner of this face's connections.

        Called when an operation runs in another process or on another event loop than the
        connections belong to. A forked process sets its parent's connections aside, never
        closed nor collected (closing would end them for the parent too: two processes on
        one socket would read each other's replies). An async connection belongs to the
        event loop that opened it: when that loop has ended and another one calls (a test
        client that runs each request on a fresh loop), the old ones are dropped and new
        ones open for the new loop; while it still runs, a second loop is refused.
        """
        with self._lock:  # nothing awaits inside
            pid = os.getpid()
            if self._owner_pid != pid:
                self._inherited.extend(c for c in (self._pool, self._kept) if c is not None)
                self._pool = self._kept = None
                self._owner_pid = pid
            if self._owner_loop is not loop:
                if self._pool is not None or self._kept is not None:
                    if self._owner_loop is not None and not self._owner_loop.is_closed():
                        raise RuntimeError(
                            f"{self.name}: this store's async connections belong to another event loop "
                            "that is still running; open one store per event loop"
                        )
                    kept, self._kept = self._kept, None
                    if kept is not None:
                        kept.pgconn.finish()  # its loop has ended: only the socket is left to close
                    self._pool = None  # a pool of an ended loop cannot be closed, only dropped
                self._owner_loop = loop

    def _open_pool(self) -> ConnectionPool[Connection[TupleRow]]:
        """This face's pool, opened on first use (by the owner, see :meth:`_own`)."""
        loop = None  # None in the sync face (scripts/unasync.py)
        if self._owner_loop is not loop or self._owner_pid != os.getpid():
            self._own(loop)
        pool = self._pool
        if pool is None:
            with self._lock:
                pool = self._pool
                if pool is None:
                    pool = self._pool = self._new_pool()
        if pool.closed:
            pool.open()  # idempotent: concurrent first users all wait for the one opening
        return pool

    def _new_pool(self) -> ConnectionPool[Connection[TupleRow]]:
        backend = self

        class RecordingConnection(Connection[TupleRow]):
            """Remembers why connecting last failed, so a pool timeout can say it."""

            @classmethod
            def connect(cls, conninfo: str = "", **kwargs: Any) -> Self:
                try:
                    connection = super().connect(conninfo, **kwargs)
                except psycopg.Error as exc:
                    backend._connect_error = exc
                    raise
                backend._connect_error = None
                return connection

        settings = self.settings
        return ConnectionPool(
            settings.conninfo,
            connection_class=RecordingConnection,
            kwargs={"autocommit": True},
            min_size=settings.pool_min_size,
            max_size=settings.pool_max_size,
            timeout=settings.pool_timeout,
            # Give up on a failing connection attempt soon, so that once the server is
            # back the next request starts a fresh attempt instead of waiting out a
            # backoff that doubled all through the outage.
            reconnect_timeout=max(10.0, 2.0 * settings.connect_timeout),
            name="sessionary",
            open=False,
        )

    def _kept_connection(self) -> Connection[TupleRow]:
        """The kept connection, opened (or replaced) if need be; the caller holds its lock.

        One connected before this process forked, on an event loop that has ended, closed
        or broken, or that the server has ended while it sat idle (its socket has something
        to read while no statement is running: the server's goodbye, a terminated backend's
        FATAL message, or the end of the stream) is replaced before anything is sent on it,
        so a write never goes out on a connection already known to be dead.
        """
        loop = None  # None in the sync face (scripts/unasync.py)
        if self._owner_loop is not loop or self._owner_pid != os.getpid():
            self._own(loop)
        conn = self._kept
        if conn is not None:
            if conn.pgconn.transaction_status == _IDLE and not self._kept_readable():
                return conn
            self._kept = None
            conn.close()
        try:
            conn = _KeptConnection.connect(self.settings.conninfo, autocommit=True)
        except psycopg.Error as exc:
            self._connect_error = exc
            raise
        self._connect_error = None
        self._kept_readable = _poller(conn)
        self._kept = conn
        return conn

    def _release_kept(self, conn: Connection[TupleRow]) -> None:
        """Keep the connection for the next operation if it is idle and sound, else close it
        (a statement cancelled half-way, a transaction left open, a broken socket)."""
        if conn.pgconn.transaction_status != _IDLE:  # UNKNOWN once broken or closed
            if self._kept is conn:
                self._kept = None
            conn.close()

    @contextmanager
    def connection(self) -> Iterator[Connection[TupleRow]]:
        """A connection of this face (autocommit), for maintenance and scripts: the kept
        one if it is free, else one of the pool.

        psycopg errors raised inside become :class:`StoreUnavailable` naming the store.
        """
        try:
            if self._kept_lock.acquire(blocking=False):
                try:
                    conn = self._kept_connection()
                    try:
                        yield conn
                    finally:
                        self._release_kept(conn)
                finally:
                    self._kept_lock.release()
            else:
                pool = self._open_pool()
                with pool.connection() as conn:
                    yield conn
        except psycopg.Error as exc:
            raise self._error(exc) from exc

    def _run(
        self,
        template: str,
        params: dict[str, Any],
        *,
        retry: bool = False,
        changes: tuple[bytes, ...] = (),
        owner: str | None = None,
    ) -> tuple[Rows, int]:
        """Run one statement (prepared on the connection's first use of it): its rows and
        its row count.

        ``changes`` (session keys) and ``owner`` (a user whose sessions are revoked) name
        what the statement may change: this process's copies of them are dropped once it
        has run (or failed), without waiting for the notification the change sends to
        every process, and reads already under way are refused a copy.

        On the kept connection when it is free, on one of the pool when another operation
        holds it. With ``retry`` (reads, whose answer a second run cannot change), a
        connection that breaks under the statement is replaced and the statement run
        again; a write is never retried, since whether the server applied it before the
        connection broke is unknown.
        """
        query = self._queries[template]
        near = self._near
        if near is None or not (changes or owner):
            return self._run_here(query, params, retry)
        try:
            return self._run_here(query, params, retry)
        finally:
            for key in changes:
                near.invalidate(key)
            if owner is not None:
                near.invalidate_owner(owner)

    def _run_here(self, query: str, params: dict[str, Any], retry: bool) -> tuple[Rows, int]:
        if self._kept_lock.acquire(blocking=False):
            try:
                return self._run_on(True, query, params, 1 if retry else 0)
            finally:
                self._kept_lock.release()
        return self._run_on(False, query, params, self.settings.pool_max_size if retry else 0)

    def _run_on(self, kept: bool, query: str, params: dict[str, Any], retries: int) -> tuple[Rows, int]:
        """The statement on the kept connection (``kept``) or one of the pool, run again
        on a new connection up to ``retries`` times when the connection broke under it."""
        while True:
            broken = False
            try:
                if kept:
                    conn = self._kept_connection()
                else:
                    pool = self._open_pool()
                    # getconn/putconn rather than pool.connection(): on an autocommit
                    # connection its transaction block and usage timing add nothing.
                    conn = pool.getconn()
                try:
                    return _execute(conn, query, params)
                except psycopg.OperationalError:
                    broken = conn.broken
                    raise
                finally:
                    if kept:
                        self._release_kept(conn)
                    else:
                        pool.putconn(conn)
            except psycopg.Error as exc:
                if broken and retries > 0:
                    retries -= 1
                    continue
                raise self._error(exc) from exc

    def _error(self, exc: psycopg.Error) -> StoreUnavailable:
        """The store error a psycopg error means, naming the store and the cause."""
        detail = " ".join(str(exc).split()) or type(exc).__name__
        if isinstance(exc, psycopg.errors.UndefinedTable | psycopg.errors.UndefinedColumn):
            cause = (
                f"{detail}: the session tables are missing or out of date; "
                f"create them with `sessionary migrate --store {self.name}`"
            )
        elif isinstance(exc, PoolTimeout):
            cause = f"no connection free within pool_timeout={self.settings.pool_timeout:g} s"
            last = self._connect_error
            if last is not None:
                cause += f"; connecting fails: {' '.join(str(last).split())}"
            else:
                cause += f" (all pool_max_size={self.settings.pool_max_size} connections busy or connecting)"
        elif isinstance(exc, psycopg.errors.QueryCanceled):
            cause = f"{detail} (statement_timeout={self.settings.statement_timeout} ms)"
        else:
            cause = f"{type(exc).__name__}: {detail}"
        return StoreUnavailable(self.name, cause)

    # --- encoding --------------------------------------------------------------------

    def _decode(self, key: bytes, data: Any, meta: Any, expires_at: float) -> Record:
        if not isinstance(data, dict):
            raise StoreCorrupted(self.name, f"session data is a JSON {type(data).__name__}, not an object")
        return Record(bytes(key), data, self._meta(meta), float(expires_at))

    def _meta(self, meta: Any) -> Meta:
        if not isinstance(meta, dict):
            raise StoreCorrupted(
                self.name, f"session metadata is a JSON {type(meta).__name__}, not an object"
            )
        return Meta.from_dict(meta, store=self.name)

    @staticmethod
    def _object(items: Iterable[tuple[str, str]]) -> str:
        """One JSON object from names and JSON texts, refusing what JSONB cannot hold."""
        parts = []
        for name, text in items:
            if "\x00" in name or _NUL.search(text):
                raise SessionValueError(name, "PostgreSQL cannot store the NUL character (U+0000) in JSONB")
            parts.append(encode_stored(name) + ":" + text)
        return "{" + ",".join(parts) + "}"

    @staticmethod
    def _meta_json(values: dict[str, Any]) -> str:
        text = encode_mapping(values)
        if _NUL.search(text):
            raise SessionValueError("metadata", "PostgreSQL cannot store the NUL character (U+0000) in JSONB")
        return text

    def _row(self, record: Record, now: float) -> dict[str, Any]:
        return {
            "key": record.key,
            "data": self._object((name, encode_value(name, value)) for name, value in record.data.items()),
            "meta": self._meta_json(asdict(record.meta)),
            "user_id": record.meta.user_id,
            "issued_at": record.meta.issued_at,
            "expires_at": record.expires_at,
            "now": now,
        }

    # --- reading ---------------------------------------------------------------------

    def load(self, key: bytes, now: float) -> Record | None:
        """The live record under ``key``: from this process's copy when the near-cache may
        serve one (no round trip), else from the server (a copy kept for next time)."""
        near = self._near
        if near is None:
            rows, _ = self._run(_LOAD, {"key": key, "now": now}, retry=True)
            return self._record(key, rows[0]) if rows else None
        copy = near.get(key)  # decoded by the read that kept it, or a write's row
        if copy is not None:
            if isinstance(copy, Kept):
                if now < copy.expires_at:
                    return copy.served()
            elif now < copy[3]:
                return self._record(key, copy)
        ticket = near.ticket(key)  # before the query: a change heard meanwhile refuses its copy
        rows, _ = self._run(_LOAD, {"key": key, "now": now}, retry=True)
        if not rows:
            return None
        row = rows[0]
        record = self._record(key, row)
        if record.key == key:  # read through a renewal alias: not kept (its target changes under another key)
            kept = Kept(record)
            near.put(ticket, kept, record.meta.user_id, size=kept.size(len(row[1]) + len(row[2])))
        return record

    def _record(self, key: bytes, row: tuple[Any, ...]) -> Record:
        found, data, meta, expires_at = row
        try:
            data, meta = decode_value(data), decode_value(meta)
        except (ValueError, TypeError, RecursionError) as exc:
            raise StoreCorrupted(self.name, f"session {key.hex()[:12]}… is not valid JSON ({exc})") from None
        return self._decode(found, data, meta, expires_at)

    def exists(self, key: bytes) -> bool:
        rows, _ = self._run(_EXISTS, {"key": key}, retry=True)
        return bool(rows)

    # --- writing ---------------------------------------------------------------------

    def create(self, record: Record, now: float) -> bool:
        _, count = self._run(_CREATE, self._row(record, now), changes=(record.key,))
        return count == 1

    def write(self, key: bytes, change: Change, now: float) -> bool:
        params = {
            "key": key,
            "set": self._object(change.set.items()),
            "removed": sorted(change.removed),
            "meta": self._meta_json(change.meta),
            "expires_at": change.expires_at,
            "now": now,
        }
        return self._run_kept_row(key, _WRITE_CLEARED if change.cleared else _WRITE_MERGE, params)

    def _run_kept_row(self, key: bytes, template: str, params: dict[str, Any]) -> bool:
        """A save or a touch of ``key``, whose statement returns the row as it left it
        (checked live and not revoked by the statement itself): kept in the near-cache, so
        the next read of it costs no round trip, unless the channel announces a change of
        it besides this statement's own (:meth:`NearCache.keep_written`)."""
        near = self._near
        if near is None:
            _, count = self._run(template, params, changes=(key,))
            return count == 1
        ticket = near.ticket(key)  # before the statement, as a read's
        rows, count = self._run(template, params, changes=(key,))
        if rows:
            found, data, meta, expires_at, user_id = rows[0]
            if found == key:  # written through a renewal alias: not kept, as a read's
                near.keep_written(ticket, (found, data, meta, expires_at), user_id)
        return count == 1

    def touch(
        self, key: bytes, last_seen: float, saved_deadline: float, expires_at: float, now: float
    ) -> bool:
        params = {
            "key": key,
            "last_seen": last_seen,
            "saved_deadline": saved_deadline,
            "expires_at": expires_at,
            "now": now,
        }
        return self._run_kept_row(key, _TOUCH, params)

    def compare_and_set(
        self, key: bytes, name: str, expected: str | None, value: str | None, now: float
    ) -> Swap:
        self._object([(name, value or "null")])  # refuses what JSONB cannot hold, naming the key
        params = {"key": key, "name": name, "expected": expected, "value": value, "now": now}
        rows, _ = self._run(_SWAP, params, changes=(key,))
        live, swapped = rows[0]
        if swapped:
            return Swap.SWAPPED
        return Swap.CONFLICT if live else Swap.GONE

    def rotate(
        self,
        old_key: bytes,
        record: Record,
        grace_until: float | None,
        now: float,
        change: Change | None = None,
    ) -> Rotation:
        change = change or Change.replacing(record.data)
        params = self._row(record, now) | {
            "old": old_key,
            "grace_until": grace_until,
            "data": self._object(change.set.items()),
            "removed": sorted(change.removed),
        }
        if change.cleared:
            template = _ROTATE_DROP_CLEARED if grace_until is None else _ROTATE_ALIAS_CLEARED
        else:
            template = _ROTATE_DROP if grace_until is None else _ROTATE_ALIAS
        rows, _ = self._run(template, params, changes=(old_key, record.key))
        old_was_live, created = rows[0]
        if not old_was_live:
            return Rotation.GONE
        return Rotation.ROTATED if created else Rotation.COLLISION

    def delete(self, key: bytes) -> bool:
        _, count = self._run(_DELETE, {"key": key}, changes=(key,))
        return count > 0

    def clear_expired(self, now: float, batch_size: int) -> Iterator[int]:
        """Delete in batches of ``batch_size``, each one statement and its own transaction."""
        after = float("-inf")
        while True:
            rows, _ = self._run(_CLEAR_BATCH, {"now": now, "after": after, "limit": batch_size})
            deleted, last = rows[0]
            if not deleted:
                return
            after = last
            yield int(deleted)

    def count(self, now: float) -> Counts:
        rows, _ = self._run(_COUNT, {"now": now}, retry=True)
        live, total = rows[0]
        return Counts(live=int(live), expired=int(total) - int(live))

    # --- users -----------------------------------------------------------------------

    def user_sessions(self, user_id: str, now: float) -> list[Summary]:
        rows, _ = self._run(_USER_SESSIONS, {"user_id": user_id, "now": now}, retry=True)
        return [Summary(bytes(key), self._meta(meta), float(expires_at)) for key, meta, expires_at in rows]

    def delete_user_session(self, user_id: str, key: bytes) -> bool:
        _, count = self._run(_DELETE_USER_SESSION, {"key": key, "user_id": user_id}, changes=(key,))
        return count > 0

    def revoke_user(self, user_id: str, valid_after: float, keep: bytes | None) -> int:
        params = {"user_id": user_id, "valid_after": valid_after, "keep": keep}
        _, count = self._run(_REVOKE_USER, params, owner=user_id)
        return count

    # --- schema ----------------------------------------------------------------------

    def user_counts(self, now: float, limit: int) -> UserCounts:
        """Live sessions by user: how many users, their sessions, the ``limit`` busiest."""
        sessions = self.settings.tables.sessions
        live = f"FROM {sessions} WHERE user_id IS NOT NULL AND alias_of IS NULL AND expires_at > %(now)s"
        with self.connection() as conn:
            cursor = conn.execute(f"SELECT count(DISTINCT user_id), count(*) {live}", {"now": now})
            users, total = (cursor.fetchall())[0]
            cursor = conn.execute(
                f"SELECT user_id, count(*) AS n {live} GROUP BY user_id ORDER BY n DESC, user_id LIMIT %(limit)s",
                {"now": now, "limit": limit},
            )
            rows = cursor.fetchall()
        return UserCounts(int(users), int(total), [(str(user), int(n)) for user, n in rows])

    def lease(self, name: str, holder: str, until: float, now: float) -> bool:
        """Take or extend the lease ``name`` until ``until``: True if ``holder`` has it now
        (it was free, had ended, or was already its own). Its table comes with ``migrate``."""
        query = _LEASE.format(leases=self.settings.tables.leases)
        params = {"name": name, "holder": holder, "until": until, "now": now}
        with self.connection() as conn:
            cursor = conn.execute(query, params)
            return cursor.rowcount == 1

    def migrate(self) -> str:
        """Create the tables and indexes that are missing, and bring an older table up to
        date (idempotent); says which it did, for ``sessionary migrate`` to print.

        Runs in one transaction under an advisory lock, so two deployments migrating at
        once do not trip over each other.
        """
        tables = self.settings.tables
        schema = tables.schema_sql()
        lock = int.from_bytes(
            hashlib.sha256(b"sessionary:" + schema.encode()).digest()[:8], "big", signed=True
        )
        with self.connection() as conn, conn.transaction():
            conn.execute("SET LOCAL statement_timeout = 0")
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))
            cursor = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (tables.sessions,))
            found = cursor.fetchone()
            conn.execute(schema)
            if not (found and found[0]):
                return f"created the tables {tables.sessions} and {tables.users}"
            cursor = conn.execute(_DATA_TYPE, (tables.sessions,))
            column = cursor.fetchone()
            if column is not None and column[0] == "jsonb":
                conn.execute(UPGRADE_DATA_TO_JSON.format(sessions=tables.sessions))
                return (
                    f"upgraded {tables.sessions}: its data column is now json, which keeps "
                    "each session as written (jsonb sorted the keys)"
                )
        return f"found the tables {tables.sessions} and {tables.users} up to date"

    def close(self) -> None:
        if self._near is not None:
            self._near.stop()  # started again by the next read, on either face
        with self._lock:
            pool, self._pool = self._pool, None
            kept, self._kept = self._kept, None
            loop = self._owner_loop
        here = loop is None
        if kept is not None:
            if here:
                kept.close()
            else:
                kept.pgconn.finish()  # its loop has ended: only the socket is left to close
        if pool is not None and here:
            pool.close()  # a pool of an ended loop cannot be closed, only dropped


# The type of a sessions table's data column: jsonb before sessionary kept data as written.
_DATA_TYPE = (
    "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
    " WHERE attrelid = to_regclass(%s) AND attname = 'data' AND NOT attisdropped"
)

_TEMPLATES = (
    _LOAD,
    _CREATE,
    _WRITE_MERGE,
    _WRITE_CLEARED,
    _TOUCH,
    _SWAP,
    _ROTATE_DROP,
    _ROTATE_ALIAS,
    _ROTATE_DROP_CLEARED,
    _ROTATE_ALIAS_CLEARED,
    _DELETE,
    _EXISTS,
    _CLEAR_BATCH,
    _COUNT,
    _USER_SESSIONS,
    _DELETE_USER_SESSION,
    _REVOKE_USER,
)


def _execute(conn: Any, query: str, params: dict[str, Any]) -> tuple[Rows, int]:
    """One statement, prepared on the connection after its first use: its rows (none for
    a statement that returns none) and its row count."""
    cursor = conn.execute(query, params, prepare=True)
    rows = cursor.fetchall() if cursor.description is not None else []
    return rows, cursor.rowcount
