"""Sessions in PostgreSQL (``postgresql://`` or ``postgres://``), through psycopg 3.

The tables are created by ``sessionary migrate --store URL`` (or by running
:data:`SCHEMA`, rendered by :func:`schema_sql`, with your own migration tool), never
silently at import or first use: a missing table is reported as such.

URL: any libpq URL (``postgresql://user:password@host:5432/dbname?sslmode=require``)
plus sessionary's own options, which are taken out before libpq sees the rest:

``table=sessionary``
    Table name prefix, optionally schema-qualified (``auth.sessionary``): the tables are
    ``<prefix>_sessions``, ``<prefix>_users`` and ``<prefix>_leases``.
``connect_timeout=5``
    Seconds to wait for a new connection (libpq's own option, given a default here).
``statement_timeout=5000``
    Milliseconds a statement may run before the server cancels it (0: no limit).
``pool_min_size=0``, ``pool_max_size=10``, ``pool_timeout=5``
    Pool connections each face (sync, async) keeps open at least and at most, besides the
    one connection it keeps for the callers that find it free, and seconds a request waits
    for a free pool connection before the store counts as unavailable.
``synchronous_commit=off``
    Commit session writes without waiting for the WAL flush (see docs/store-postgresql.md).
``near_cache=on``, ``near_cache_bytes=33554432``, ``near_cache_lease=5``
    The near-cache of the sessions this process has read (:mod:`sessionary.stores.postgres._listen`):
    on or off, its memory budget in bytes, and seconds the ``LISTEN`` connection is
    trusted after its last answered heartbeat.

The work is in :mod:`sessionary.stores.postgres._async` (``AsyncPostgresBackend``) and the sync
face generated from it (``PostgresBackend``); each opens its connections on first use only.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit, urlunsplit

from psycopg import ProgrammingError
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ...errors import ConfigError
from ...nearcache import DEFAULT_LEASE, DEFAULT_MAX_BYTES
from .. import Store, option, redact

SCHEMA = """\
CREATE TABLE IF NOT EXISTS {sessions} (
    key        BYTEA PRIMARY KEY,          -- SHA-256 of the token, never the token
    data       JSON NOT NULL,              -- the session's keys, one JSON object, kept as written
    meta       JSONB NOT NULL,             -- sessionary's metadata (times, user, client)
    user_id    TEXT,                       -- the per-user index
    issued_at  DOUBLE PRECISION NOT NULL,  -- when the current token was issued (epoch seconds)
    expires_at DOUBLE PRECISION NOT NULL,  -- the server-side deadline (epoch seconds)
    alias_of   BYTEA                       -- set for a renewed token's grace alias
);
CREATE INDEX IF NOT EXISTS {expires_index} ON {sessions} (expires_at);
CREATE INDEX IF NOT EXISTS {user_index} ON {sessions} (user_id) WHERE user_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS {users} (
    user_id     TEXT PRIMARY KEY,
    valid_after DOUBLE PRECISION NOT NULL  -- sessions issued before this instant are refused
);
CREATE TABLE IF NOT EXISTS {leases} (
    name   TEXT PRIMARY KEY,               -- the job, e.g. 'cleanup'
    holder TEXT NOT NULL,                  -- the process that holds it
    until  DOUBLE PRECISION NOT NULL       -- the lease ends at this instant (epoch seconds)
);
-- Every change, deletion and revocation tells the processes' near-caches, in its own
-- transaction: NOTIFY is delivered at commit, so a rollback tells nobody.
CREATE OR REPLACE FUNCTION {notify_function}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = '{users_name}' THEN
        PERFORM pg_notify(TG_ARGV[0], 'u:' || NEW.user_id);
    ELSE
        PERFORM pg_notify(TG_ARGV[0], encode(OLD.key, 'hex'));
    END IF;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS {sessions_trigger} ON {sessions};
CREATE TRIGGER {sessions_trigger} AFTER UPDATE OR DELETE ON {sessions}
    FOR EACH ROW EXECUTE FUNCTION {notify_function}('{channel}');
DROP TRIGGER IF EXISTS {users_trigger} ON {users};
CREATE TRIGGER {users_trigger} AFTER INSERT OR UPDATE ON {users}
    FOR EACH ROW EXECUTE FUNCTION {notify_function}('{channel}');
"""
"""The tables and indexes, with ``{sessions}``, ``{users}``, ``{leases}`` and index names to fill in
(:func:`schema_sql` does). Every statement is idempotent; the triggers are dropped and
created again, in the one transaction ``migrate`` runs them in."""

UPGRADE_DATA_TO_JSON = "ALTER TABLE {sessions} ALTER COLUMN data TYPE json USING data::text::json"
"""What ``sessionary migrate`` runs on a sessions table made before data was ``json``
(it was ``jsonb``, which sorts keys and rewrites numbers). It rewrites the table under an
exclusive lock: sessions stored so far keep their (sorted) order, later saves keep theirs."""

DEFAULT_TABLE = "sessionary"

_NAME = re.compile(r"[a-z_][a-z0-9_]{0,39}")
_OWN_OPTIONS = (
    "table",
    "connect_timeout",
    "statement_timeout",
    "pool_min_size",
    "pool_max_size",
    "pool_timeout",
    "synchronous_commit",
    "near_cache",
    "near_cache_bytes",
    "near_cache_lease",
)
_SYNCHRONOUS_COMMIT = ("on", "off", "local")
_QUERY_SECRET = re.compile(r"(?<=[?&])(password|sslpassword)=[^&#]*")


def _quote(name: str) -> str:
    return f'"{name}"'


@dataclass(frozen=True, slots=True)
class Tables:
    """The quoted SQL names of one store's tables, from a prefix like ``auth.sessionary``."""

    prefix: str

    def __post_init__(self) -> None:
        parts = self.prefix.split(".")
        if len(parts) > 2 or not all(_NAME.fullmatch(part) for part in parts):
            raise ConfigError(
                "store",
                f"option table={self.prefix!r} must be a lowercase SQL name of at most 40 letters, "
                "digits and underscores, optionally schema-qualified (auth.sessionary)",
            )

    @property
    def _schema(self) -> str:
        return _quote(self.prefix.split(".")[0]) + "." if "." in self.prefix else ""

    @property
    def _base(self) -> str:
        return self.prefix.rsplit(".", 1)[-1]

    @property
    def sessions(self) -> str:
        return f"{self._schema}{_quote(self._base + '_sessions')}"

    @property
    def users(self) -> str:
        return f"{self._schema}{_quote(self._base + '_users')}"

    @property
    def leases(self) -> str:
        """Who runs the background cleanup now (:mod:`sessionary.cleanup_scheduler`)."""
        return f"{self._schema}{_quote(self._base + '_leases')}"

    @property
    def channel(self) -> str:
        """The ``LISTEN``/``NOTIFY`` channel of this store's changes (an identifier of at
        most 63 bytes: the prefix's own name, or a digest of a longer one)."""
        name = f"{self.prefix}_changes"
        if len(name) > 63:
            name = "sessionary_" + hashlib.sha256(self.prefix.encode()).hexdigest()[:32]
        return name

    @property
    def notify_function(self) -> str:
        return f"{self._schema}{_quote(self._base + '_notify')}"

    @property
    def triggers(self) -> tuple[str, str]:
        """The names of the two triggers that notify (on the sessions and users tables)."""
        return (self._base + "_sessions_notify", self._base + "_users_notify")

    def schema_sql(self) -> str:
        return SCHEMA.format(
            sessions=self.sessions,
            users=self.users,
            leases=self.leases,
            expires_index=_quote(self._base + "_sessions_expires_at"),
            user_index=_quote(self._base + "_sessions_user_id"),
            notify_function=self.notify_function,
            users_name=self._base + "_users",
            sessions_trigger=_quote(self.triggers[0]),
            users_trigger=_quote(self.triggers[1]),
            channel=self.channel,
        )


def schema_sql(table: str = DEFAULT_TABLE) -> str:
    """The SQL ``sessionary migrate`` runs, for teams that apply migrations themselves."""
    return Tables(table).schema_sql()


@dataclass(frozen=True, slots=True)
class PostgresSettings:
    """What a ``postgresql://`` URL says, checked: the backends of both faces share it."""

    name: str
    """The URL without its password, for errors and logs."""
    conninfo: str = field(repr=False)
    """What libpq connects with (it may hold the password)."""
    tables: Tables
    connect_timeout: int = 5
    statement_timeout: int = 5000
    pool_min_size: int = 0
    pool_max_size: int = 10
    pool_timeout: float = 5.0
    synchronous_commit: str | None = None
    near_cache: bool = True
    near_cache_bytes: int = DEFAULT_MAX_BYTES
    near_cache_lease: float = DEFAULT_LEASE

    @classmethod
    def from_url(cls, url: str) -> PostgresSettings:
        name = _QUERY_SECRET.sub(r"\1=***", redact(url))
        try:
            parts = urlsplit(url)
        except ValueError as exc:
            raise ConfigError("store", f"{name}: not a valid URL ({exc})") from None
        # Sessionary's options are taken out; the rest go to libpq exactly as written.
        ours: dict[str, list[str]] = {}
        theirs: list[str] = []
        for piece in filter(None, parts.query.split("&")):
            key = unquote(piece.split("=", 1)[0])
            if key in _OWN_OPTIONS:
                ours.setdefault(key, []).append(unquote(piece.split("=", 1)[1] if "=" in piece else ""))
            else:
                theirs.append(piece)
        libpq_url = urlunsplit(parts._replace(query="&".join(theirs)))
        try:
            params = conninfo_to_dict(libpq_url)
        except ProgrammingError as exc:
            raise ConfigError(
                "store",
                f"{name}: {str(exc).strip()} (sessionary's own options are {', '.join(_OWN_OPTIONS)}; "
                "every other one goes to libpq)",
            ) from None

        tables = Tables(option(ours, "table", DEFAULT_TABLE, str))
        connect_timeout: int = option(ours, "connect_timeout", 5, int)
        statement_timeout: int = option(ours, "statement_timeout", 5000, int)
        pool_min_size: int = option(ours, "pool_min_size", 0, int)
        pool_max_size: int = option(ours, "pool_max_size", 10, int)
        pool_timeout: float = option(ours, "pool_timeout", 5.0, float)
        synchronous_commit: str | None = option(ours, "synchronous_commit", None, str)
        near_cache: bool = option(ours, "near_cache", True, bool)
        near_cache_bytes: int = option(ours, "near_cache_bytes", DEFAULT_MAX_BYTES, int)
        near_cache_lease: float = option(ours, "near_cache_lease", DEFAULT_LEASE, float)

        def bad(option_name: str, value: object, expected: str) -> ConfigError:
            return ConfigError("store", f"{name}: option {option_name}={value!r} {expected}")

        if connect_timeout < 1:
            raise bad("connect_timeout", connect_timeout, "must be at least 1 (seconds)")
        if statement_timeout < 0:
            raise bad("statement_timeout", statement_timeout, "must be 0 (no limit) or more (milliseconds)")
        if pool_min_size < 0:
            raise bad("pool_min_size", pool_min_size, "must be 0 or more")
        if pool_max_size < max(1, pool_min_size):
            raise bad("pool_max_size", pool_max_size, "must be at least 1 and at least pool_min_size")
        if not pool_timeout > 0:
            raise bad("pool_timeout", pool_timeout, "must be more than 0 (seconds)")
        if near_cache_bytes < 0:
            raise bad("near_cache_bytes", near_cache_bytes, "must be 0 (keep nothing) or more (bytes)")
        if not 0 < near_cache_lease < float("inf"):
            raise bad("near_cache_lease", near_cache_lease, "must be more than 0 (seconds)")
        if synchronous_commit is not None:
            if synchronous_commit.lower() not in _SYNCHRONOUS_COMMIT:
                raise bad("synchronous_commit", synchronous_commit, "must be on, off or local")
            synchronous_commit = synchronous_commit.lower()

        params["connect_timeout"] = connect_timeout
        params.setdefault("application_name", "sessionary")
        server_settings = [f"-c statement_timeout={statement_timeout}"]
        if synchronous_commit is not None:
            server_settings.append(f"-c synchronous_commit={synchronous_commit}")
        params["options"] = " ".join(filter(None, [str(params.get("options") or ""), *server_settings]))
        return cls(
            name=name,
            conninfo=make_conninfo("", **params),
            tables=tables,
            connect_timeout=connect_timeout,
            statement_timeout=statement_timeout,
            pool_min_size=pool_min_size,
            pool_max_size=pool_max_size,
            pool_timeout=pool_timeout,
            synchronous_commit=synchronous_commit,
            near_cache=near_cache,
            near_cache_bytes=near_cache_bytes,
            near_cache_lease=near_cache_lease,
        )


def open_postgres(url: str, *, config: object = None) -> Store:
    """``postgresql://[user[:password]@]host[:port]/dbname[?options]`` (``postgres://`` too)."""
    from ._async import AsyncPostgresBackend
    from ._listen import Listener
    from ._sync import PostgresBackend

    settings = PostgresSettings.from_url(url)
    near = Listener(settings) if settings.near_cache else None
    return Store(PostgresBackend(settings, near), AsyncPostgresBackend(settings, near))


__all__ = ["SCHEMA", "UPGRADE_DATA_TO_JSON", "PostgresSettings", "Tables", "open_postgres", "schema_sql"]
