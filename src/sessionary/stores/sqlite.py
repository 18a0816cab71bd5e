"""The embedded default: sessions in a SQLite file (``sqlite:///sessions.db``).

Nothing to install or run. The file is in WAL mode, so readers never wait for writers
and several processes and threads can share it; every read-modify-write runs in a
``BEGIN IMMEDIATE`` transaction, so two writers never interleave. Expired rows are
refused by the query itself and removed in small batches by ``clear_expired``.

Durability: ``synchronous=NORMAL`` by default. In WAL mode that keeps every committed
session when the process is killed; an operating-system crash or power cut may lose the
last transactions (they are sessions, not orders). ``?synchronous=full`` makes every
commit durable at the cost of an fsync per write.

URL forms: ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``; options
``?synchronous=normal|full``, ``?busy_timeout=5000`` (milliseconds to wait for a lock) and
``?async=thread|inline``: how the async face (ASGI apps) calls SQLite. ``thread``, the
default, runs each call on the store's worker thread so the event loop never blocks
(``stores/worker.py``: a hop per call, some 10 to 15 microseconds on a 2-core machine and
more under load, calls queued together sharing one); ``inline`` calls it on the loop,
cheaper, and flagged by blocking-call detectors.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from ..errors import ConfigError, StoreCorrupted, StoreUnavailable
from ..serializer import decode_value, encode_mapping, encode_stored, same_value
from . import Store, option, worker
from .backend import Backend
from .base import Change, Counts, Meta, Record, Rotation, Summary, Swap, UserCounts
from .decoded import DecodedRecords

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessionary_sessions (
    key BLOB PRIMARY KEY,         -- SHA-256 of the token, never the token
    data TEXT NOT NULL,           -- JSON object of the session's keys
    meta TEXT NOT NULL,           -- JSON of sessionary's metadata (times, user, client)
    user_id TEXT,                 -- the per-user index
    issued_at REAL NOT NULL,      -- when the current token was issued (for valid_after)
    expires_at REAL NOT NULL,     -- the server-side deadline, epoch seconds
    alias_of BLOB                 -- set for a renewed token's grace alias
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sessionary_sessions_expires_at ON sessionary_sessions (expires_at);
CREATE INDEX IF NOT EXISTS sessionary_sessions_user_id
    ON sessionary_sessions (user_id) WHERE user_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS sessionary_users (
    user_id TEXT PRIMARY KEY,
    valid_after REAL NOT NULL     -- sessions issued before this instant are refused
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sessionary_leases (
    name TEXT PRIMARY KEY,        -- the job, e.g. 'cleanup'
    holder TEXT NOT NULL,         -- the process that holds it
    until REAL NOT NULL           -- the lease ends at this instant (epoch seconds)
) WITHOUT ROWID;
"""

# sqlite3's error for a TEXT value that is not UTF-8 (it goes on to quote the value).
_UNDECODABLE = re.compile(r"Could not decode to UTF-8 column '([^']*)'")

# One statement reads a session, enforcing its deadline and the user's valid_after.
_LOAD = """
SELECT s.data, s.meta, s.expires_at, s.alias_of
FROM sessionary_sessions AS s
LEFT JOIN sessionary_users AS u ON u.user_id = s.user_id
WHERE s.key = ? AND s.expires_at > ? AND (u.valid_after IS NULL OR s.issued_at >= u.valid_after)
"""


# Take a lease that is free, has ended or is already the holder's, in one statement.
_LEASE = """
INSERT INTO sessionary_leases (name, holder, until) VALUES (?, ?, ?)
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
WHERE sessionary_leases.until <= ? OR sessionary_leases.holder = excluded.holder
"""


class SQLiteBackend(Backend):
    """One connection per thread (and per process, after a fork) on a shared WAL file."""

    def __init__(
        self, path: str | os.PathLike[str], *, synchronous: str = "normal", busy_timeout: int = 5000
    ) -> None:
        self.path = Path(path)
        self.name = f"sqlite:///{self.path}"
        if synchronous.lower() not in ("normal", "full"):
            raise ConfigError("store", f"synchronous={synchronous!r} must be 'normal' or 'full'")
        self._synchronous = synchronous.upper()
        self._busy_timeout = busy_timeout
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._setup_lock = threading.Lock()
        self._schema_ready = False
        self._decoded = DecodedRecords()

    # --- connections -----------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is not None and self._local.made_in == worker.forks:
            return connection
        read_only = self._read_only_uri()
        try:
            connection = sqlite3.connect(
                read_only or self.path,
                isolation_level=None,
                timeout=self._busy_timeout / 1000,
                check_same_thread=False,
                uri=read_only is not None,
            )
            connection.execute(f"PRAGMA busy_timeout={int(self._busy_timeout)}")
            connection.execute(f"PRAGMA synchronous={self._synchronous}")
            with self._setup_lock:
                if not self._schema_ready and not read_only:
                    self._enter_wal(connection)
                    connection.executescript(SCHEMA)
                    self._schema_ready = True
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        self._local.connection = connection
        self._local.made_in = worker.forks
        with self._lock:
            self._connections.append(connection)
        return connection

    def _read_only_uri(self) -> str | None:
        """How to open a file this process may read but not write (None: read-write).

        Read-only (no schema, no WAL switch): reads work, writes fail as the store's error.
        Opened read-write, even a read fails ("attempt to write a readonly database"). A
        read-only connection still needs the WAL index (``-shm``); when there is none and
        the folder cannot hold one, no writer has the file open, and it is read as
        immutable."""
        try:
            if not self.path.is_file() or os.access(self.path, os.W_OK):
                return None
            index = self.path.with_name(self.path.name + "-shm")
            immutable = not index.exists() and not os.access(self.path.parent, os.W_OK)
        except OSError:  # a folder on the way we may not enter: let connecting report it
            return None
        return f"file:{quote(str(self.path))}?mode=ro" + ("&immutable=1" if immutable else "")

    def _enter_wal(self, connection: sqlite3.Connection) -> None:
        """Switch the file to WAL mode (it stays so), waiting out other processes doing the same.

        Changing the journal mode needs the file to itself and SQLite answers "database is
        locked" at once rather than waiting, so this retries until ``busy_timeout``.
        """
        deadline = time.monotonic() + self._busy_timeout / 1000
        while True:
            try:
                (mode,) = connection.execute("PRAGMA journal_mode").fetchall()[0]
                if str(mode).lower() != "wal":
                    connection.execute("PRAGMA journal_mode=WAL").fetchall()
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _error(self, exc: sqlite3.Error) -> StoreUnavailable | StoreCorrupted:
        undecodable = _UNDECODABLE.match(str(exc))
        if undecodable:
            # sqlite3 quotes the column's text in its message: never let session data
            # reach a log, only which column is not UTF-8.
            return StoreCorrupted(self.name, f"column {undecodable.group(1)!r} holds text that is not UTF-8")
        if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
            return StoreCorrupted(self.name, str(exc))
        return StoreUnavailable(self.name, str(exc))

    def _execute(self, sql: str, parameters: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        try:
            return self._connection().execute(sql, parameters)
        except sqlite3.Error as exc:
            raise self._error(exc) from exc

    def _one(self, sql: str, parameters: tuple[Any, ...] = ()) -> Any:
        """The first row of a query, with the statement closed at once.

        A statement left open keeps its read transaction (and its snapshot) alive, and a
        later write on this connection would then fail with "database is locked" at once,
        without waiting, whenever another connection wrote meanwhile.
        """
        cursor = self._execute(sql, parameters)
        try:
            return cursor.fetchone()
        except sqlite3.Error as exc:  # a row's text is decoded here, not in execute()
            raise self._error(exc) from None
        finally:
            cursor.close()

    def _all(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[Any]:
        """Every row of a query, decoding errors reported as the store's (as ``_one``)."""
        cursor = self._execute(sql, parameters)
        try:
            return cursor.fetchall()
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        finally:
            cursor.close()

    def _transaction(self) -> _Immediate:
        return _Immediate(self)

    def _decode(self, key: bytes, data: Any, meta: Any, expires_at: Any) -> Record:
        """A row as a record; a row written by anything else than this store is refused.
        The texts read the time before for the key are not decoded again (``_decoded``)."""
        known = self._decoded.get(key, data, meta, expires_at)
        if known is not None:
            return known
        if not isinstance(data, str) or not isinstance(meta, str):
            raise StoreCorrupted(self.name, "session data and metadata must be JSON text")
        try:
            values = decode_value(data)
        except (ValueError, RecursionError) as exc:
            raise StoreCorrupted(self.name, f"session data is not valid JSON ({exc})") from None
        if not isinstance(values, dict):
            raise StoreCorrupted(self.name, f"session data is a JSON {type(values).__name__}, not an object")
        if isinstance(expires_at, bool) or not isinstance(expires_at, int | float):
            raise StoreCorrupted(self.name, f"deadline {str(expires_at)[:20]!r} is not a number")
        record = Record(key, values, Meta.from_json(meta, store=self.name), float(expires_at))
        self._decoded.put(record, data, meta)
        return record

    def _live_row(self, key: bytes, now: float) -> tuple[bytes, Any] | None:
        """The live row under ``key`` or the one its alias points to (inside a transaction)."""
        row = self._one(_LOAD, (key, now))
        if row is not None and row[3] is not None:
            key = row[3]
            row = self._one(_LOAD, (key, now))
            if row is not None and row[3] is not None:
                row = None
        return None if row is None else (key, row)

    # --- reading ---------------------------------------------------------------------

    def load(self, key: bytes, now: float) -> Record | None:
        row = self._one(_LOAD, (key, now))
        if row is None:
            return None
        data, meta, expires_at, alias_of = row
        if alias_of is not None:
            row = self._one(_LOAD, (alias_of, now))
            if row is None or row[3] is not None:
                return None
            key = alias_of
            data, meta, expires_at, _ = row
        return self._decode(key, data, meta, expires_at)

    def exists(self, key: bytes) -> bool:
        return self._one("SELECT 1 FROM sessionary_sessions WHERE key = ?", (key,)) is not None

    # --- writing ---------------------------------------------------------------------

    def _insert(self, record: Record, now: float) -> bool:
        cursor = self._execute(
            """
            INSERT INTO sessionary_sessions (key, data, meta, user_id, issued_at, expires_at, alias_of)
            VALUES (?, ?, ?, ?, ?, ?, NULL)
            ON CONFLICT (key) DO UPDATE SET
                data = excluded.data, meta = excluded.meta, user_id = excluded.user_id,
                issued_at = excluded.issued_at, expires_at = excluded.expires_at, alias_of = NULL
            WHERE sessionary_sessions.expires_at <= ?
            """,
            (
                record.key,
                encode_mapping(record.data),
                record.meta.to_json(),
                record.meta.user_id,
                record.meta.issued_at,
                record.expires_at,
                now,
            ),
        )
        return cursor.rowcount == 1

    def create(self, record: Record, now: float) -> bool:
        return self._insert(record, now)

    def write(self, key: bytes, change: Change, now: float) -> bool:
        with self._transaction():
            found = self._live_row(key, now)
            if found is None:
                return False
            key, row = found
            record = self._decode(key, row[0], row[1], row[2])
            meta = change.apply_meta(record.meta)
            self._execute(
                """
                UPDATE sessionary_sessions
                SET data = ?, meta = ?, user_id = ?, expires_at = ?
                WHERE key = ?
                """,
                (
                    encode_mapping(change.apply_to(record.data)),
                    meta.to_json(),
                    meta.user_id,
                    change.expires_at,
                    key,
                ),
            )
            return True

    def compare_and_set(
        self, key: bytes, name: str, expected: str | None, value: str | None, now: float
    ) -> Swap:
        with self._transaction():
            found = self._live_row(key, now)
            if found is None:
                return Swap.GONE
            key, row = found
            data = self._decode(key, row[0], row[1], row[2]).data
            stored = data.get(name)
            current = None if name not in data else encode_stored(stored)
            if not same_value(current, expected):
                return Swap.CONFLICT
            if value is None:
                data.pop(name, None)
            else:
                data[name] = decode_value(value)
            self._execute(
                "UPDATE sessionary_sessions SET data = ? WHERE key = ?",
                (encode_mapping(data), key),
            )
            return Swap.SWAPPED

    def touch(
        self, key: bytes, last_seen: float, saved_deadline: float, expires_at: float, now: float
    ) -> bool:
        cursor = self._execute(
            """
            UPDATE sessionary_sessions
            SET meta = json_set(
                    meta,
                    '$.last_seen', max(json_extract(meta, '$.last_seen'), ?),
                    '$.saved_deadline', max(json_extract(meta, '$.saved_deadline'), ?)
                ),
                expires_at = max(expires_at, ?)
            WHERE key = ? AND alias_of IS NULL AND expires_at > ?
            """,
            (last_seen, saved_deadline, expires_at, key, now),
        )
        return cursor.rowcount == 1

    def rotate(
        self,
        old_key: bytes,
        record: Record,
        grace_until: float | None,
        now: float,
        change: Change | None = None,
    ) -> Rotation:
        with self._transaction():
            row = self._one(_LOAD, (old_key, now))
            if row is None or row[3] is not None:
                return Rotation.GONE
            if change is not None:
                stored = self._decode(old_key, row[0], row[1], row[2])
                record = Record(record.key, change.apply_to(stored.data), record.meta, record.expires_at)
            if not self._insert(record, now):
                return Rotation.COLLISION
            if grace_until is None:
                self._execute("DELETE FROM sessionary_sessions WHERE key = ?", (old_key,))
            else:
                self._execute(
                    """
                    UPDATE sessionary_sessions
                    SET data = '{}', alias_of = ?, expires_at = min(expires_at, ?)
                    WHERE key = ?
                    """,
                    (record.key, grace_until, old_key),
                )
            return Rotation.ROTATED

    def delete(self, key: bytes) -> bool:
        return self._execute("DELETE FROM sessionary_sessions WHERE key = ?", (key,)).rowcount > 0

    def clear_expired(self, now: float, batch_size: int) -> Iterator[int]:
        """Delete in batches of ``batch_size``, each its own short transaction."""
        while True:
            deleted = self._execute(
                """
                DELETE FROM sessionary_sessions WHERE key IN (
                    SELECT key FROM sessionary_sessions WHERE expires_at < ? LIMIT ?
                )
                """,
                (now, batch_size),
            ).rowcount
            if deleted <= 0:
                return
            yield deleted

    def count(self, now: float) -> Counts:
        live, total = self._one(
            "SELECT coalesce(sum(expires_at > ?), 0), count(*) FROM sessionary_sessions", (now,)
        )
        return Counts(live=int(live), expired=int(total) - int(live))

    def user_counts(self, now: float, limit: int) -> UserCounts:
        """Live sessions by user: how many users, their sessions, the ``limit`` busiest."""
        live = "FROM sessionary_sessions WHERE user_id IS NOT NULL AND alias_of IS NULL AND expires_at > ?"
        users, sessions = self._one(f"SELECT count(DISTINCT user_id), count(*) {live}", (now,))
        rows = self._execute(
            f"SELECT user_id, count(*) AS n {live} GROUP BY user_id ORDER BY n DESC, user_id LIMIT ?",
            (now, limit),
        ).fetchall()
        return UserCounts(int(users), int(sessions), [(str(user), int(n)) for user, n in rows])

    # --- users -----------------------------------------------------------------------

    def user_sessions(self, user_id: str, now: float) -> list[Summary]:
        self._execute("DELETE FROM sessionary_sessions WHERE user_id = ? AND expires_at <= ?", (user_id, now))
        rows = self._all(
            """
            SELECT s.key, s.meta, s.expires_at
            FROM sessionary_sessions AS s
            LEFT JOIN sessionary_users AS u ON u.user_id = s.user_id
            WHERE s.user_id = ? AND s.alias_of IS NULL AND s.expires_at > ?
              AND (u.valid_after IS NULL OR s.issued_at >= u.valid_after)
            """,
            (user_id, now),
        )
        return [
            Summary(key, Meta.from_json(meta, store=self.name), expires_at) for key, meta, expires_at in rows
        ]

    def delete_user_session(self, user_id: str, key: bytes) -> bool:
        cursor = self._execute(
            "DELETE FROM sessionary_sessions WHERE key = ? AND user_id = ?", (key, user_id)
        )
        return cursor.rowcount > 0

    def revoke_user(self, user_id: str, valid_after: float, keep: bytes | None) -> int:
        with self._transaction():
            self._execute(
                """
                INSERT INTO sessionary_users (user_id, valid_after) VALUES (?, ?)
                ON CONFLICT (user_id) DO UPDATE SET valid_after = max(valid_after, excluded.valid_after)
                """,
                (user_id, valid_after),
            )
            cursor = self._execute(
                "DELETE FROM sessionary_sessions WHERE user_id = ? AND key IS NOT ?", (user_id, keep)
            )
            return cursor.rowcount

    # --- leases (sessionary.cleanup_scheduler) -----------------------------------------

    def lease(self, name: str, holder: str, until: float, now: float) -> bool:
        """Take or extend the lease ``name`` until ``until``: True if ``holder`` has it now
        (it was free, had ended, or was already its own)."""
        cursor = self._execute(_LEASE, (name, holder, until, now))
        return cursor.rowcount == 1

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()
        self._local = threading.local()


class _Immediate:
    """``BEGIN IMMEDIATE`` … ``COMMIT``: takes the write lock up front, so no deadlock."""

    def __init__(self, backend: SQLiteBackend) -> None:
        self.backend = backend

    def __enter__(self) -> None:
        self.backend._execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        if exc_type is None:
            self.backend._execute("COMMIT")
        else:
            with contextlib.suppress(sqlite3.Error):
                self.backend._connection().execute("ROLLBACK")


def open_sqlite(url: str, *, config: object = None) -> Store:
    """``sqlite:///path.db`` (relative) or ``sqlite:////abs/path.db``."""
    from .inline import InlineAsync
    from .worker import WorkerAsync

    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise ConfigError(
            "store", f"{url!r}: a SQLite URL has no host; write sqlite:///relative.db or sqlite:////abs.db"
        )
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    if not path:
        raise ConfigError("store", f"{url!r} names no file; write sqlite:///sessions.db")
    query = parse_qs(parts.query)
    backend = SQLiteBackend(
        path,
        synchronous=option(query, "synchronous", "normal", str),
        busy_timeout=option(query, "busy_timeout", 5000, int),
    )
    calls = option(query, "async", "thread", str)
    if calls not in ("thread", "inline"):
        raise ConfigError("store", f"async={calls!r} must be 'thread' or 'inline'")
    return Store(backend, WorkerAsync(backend) if calls == "thread" else InlineAsync(backend))
