"""The ``sessionary`` command: maintenance of a store, and the demo.

    sessionary --version
    sessionary clear-expired --store URL     delete expired sessions in batches
    sessionary stats --store URL [--top N]   live, expired and per-user counts, health
    sessionary migrate --store URL           create the tables a SQL store needs
    sessionary sessions --store URL --user ID
    sessionary revoke --store URL --user ID (--session HANDLE | --all)
    sessionary import --from flask-session --store URL (--old-redis URL | --old-sql URL)
    sessionary demo [--host H] [--port P] [--store URL] [--host-prefix] [--insecure-cookie] [--dbsc]

``--store`` defaults to ``$SESSIONARY_STORE``, else ``sqlite:///sessions.db``. Every
command takes ``--json``: one JSON object on stdout for the result, and one on stderr
(``{"error": ...}``) when it fails, for scripts and monitoring.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from .config import Config
from .devices import Device, table
from .errors import ConfigError, SessionaryError, StoreUnavailable, UnsupportedOperation
from .manager import SessionManager
from .store_report import check_health, user_counts
from .version import version

DEFAULT_STORE = "sqlite:///sessions.db"
DEMO_STORE = "sqlite:///demo-sessions.db"


def _store_argument(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    parser.add_argument(
        "--store",
        default=default or os.environ.get("SESSIONARY_STORE", DEFAULT_STORE),
        help="store URL, e.g. sqlite:///sessions.db, redis://localhost:6379/0, postgresql://host/db "
        "(default: $SESSIONARY_STORE or %(default)s)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sessionary", description="Server-side sessions: store maintenance."
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("--json", action="store_true", help="print the result as JSON (any command)")
    # Every command also takes --json after its name; SUPPRESS keeps the value given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print the result as JSON"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    clear = commands.add_parser(
        "clear-expired", parents=[common], help="delete expired sessions (Django's clearsessions)"
    )
    _store_argument(clear)
    clear.add_argument("--batch-size", type=int, default=1000, help="rows per batch (default %(default)s)")
    clear.add_argument("--quiet", action="store_true", help="print only the final count")

    stats = commands.add_parser(
        "stats", parents=[common], help="live, expired and per-user counts, and the store's health"
    )
    _store_argument(stats)
    stats.add_argument(
        "--top", type=int, default=10, help="users listed by session count (default %(default)s)"
    )

    migrate = commands.add_parser(
        "migrate", parents=[common], help="create the tables and indexes a SQL store needs (idempotent)"
    )
    _store_argument(migrate)

    sessions = commands.add_parser("sessions", parents=[common], help="list a user's live sessions")
    _store_argument(sessions)
    sessions.add_argument("--user", required=True, help="the user's id")

    revoke = commands.add_parser("revoke", parents=[common], help="end one or all of a user's sessions")
    _store_argument(revoke)
    revoke.add_argument("--user", required=True, help="the user's id")
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--session", metavar="HANDLE", help="the session's handle (from `sessionary sessions`)"
    )
    which.add_argument("--all", action="store_true", help="every session of the user")

    move = commands.add_parser(
        "import",
        parents=[common],
        help="move an old library's sessions into the store (resumable: run it again)",
    )
    _store_argument(move)
    move.add_argument(
        "--from", dest="source", required=True, choices=["flask-session"], help="the old library"
    )
    old = move.add_mutually_exclusive_group(required=True)
    old.add_argument("--old-redis", metavar="URL", help="Flask-Session's Redis (SESSION_TYPE='redis')")
    old.add_argument("--old-sql", metavar="URL", help="Flask-Session's SQLAlchemy database URL")
    move.add_argument("--key-prefix", default="session:", help="SESSION_KEY_PREFIX (default %(default)s)")
    move.add_argument("--table", default="sessions", help="SESSION_SQLALCHEMY_TABLE (default %(default)s)")
    move.add_argument("--batch-size", type=int, default=500, help="records per batch (default %(default)s)")
    move.add_argument("--quiet", action="store_true", help="print only the final count")

    demo = commands.add_parser("demo", parents=[common], help="serve the example app")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--store", default=os.environ.get("SESSIONARY_STORE", DEMO_STORE), help="store URL")
    demo.add_argument(
        "--host-prefix",
        action="store_true",
        default=os.environ.get("SESSIONARY_DEMO_HOST_PREFIX", "") not in ("", "0"),
        help="name the cookie __Host-sessionid (default: on when $SESSIONARY_DEMO_HOST_PREFIX is set and not 0)",
    )
    demo.add_argument(
        "--insecure-cookie",
        action="store_true",
        help="set the cookie without Secure, so browsers keep it over plain http from another "
        "address than localhost (local testing only; behind https, leave it off)",
    )
    demo.add_argument(
        "--dbsc",
        action="store_true",
        help="mount Device Bound Session Credentials (needs the dbsc extra: cryptography)",
    )
    return parser


class Output:
    """Where a command's result goes: text lines, or one JSON object with ``--json``."""

    def __init__(self, out: TextIO, *, as_json: bool) -> None:
        self.out = out
        self.as_json = as_json

    def result(self, value: dict[str, Any], lines: Sequence[str]) -> None:
        if self.as_json:
            print(json.dumps(value, default=str), file=self.out)
        else:
            for line in lines:
                print(line, file=self.out)

    def error(self, message: str, **details: Any) -> None:
        if self.as_json:
            print(json.dumps({"error": message, **details}, default=str), file=sys.stderr)
        else:
            print(f"sessionary: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    output = Output(out or sys.stdout, as_json=args.json)
    if args.version:
        output.result({"version": version()}, [f"sessionary {version()}"])
        return 0
    if args.command is None:
        parser.error("the following arguments are required: COMMAND")
    try:
        if args.command == "demo":
            from .demo import serve

            if not 1 <= args.port <= 65535:
                output.error(f"--port {args.port} is not a port number (1 to 65535)")
                return 2
            if args.json:
                print(
                    json.dumps({"url": f"http://{args.host}:{args.port}/", "store": args.store}), flush=True
                )
            serve(
                host=args.host,
                port=args.port,
                store=args.store,
                host_prefix=args.host_prefix,
                insecure_cookie=args.insecure_cookie,
                dbsc=args.dbsc,
            )
            return 0
        # Maintenance never signs a cookie: a throwaway key lets cookie:// open, so that its
        # operations can say themselves what that store cannot do.
        manager = SessionManager(args.store, Config(secret_keys=(secrets.token_urlsafe(32),)))
        try:
            _must_exist(manager, args.command)
            _reach(manager)
            return _COMMANDS[args.command](manager, args, output)
        finally:
            manager.close()
    except SessionaryError as exc:
        output.error(str(exc))
        return 1


def _must_exist(manager: SessionManager, command: str) -> None:
    """Only ``migrate`` and ``import`` (which fills a new store) may create a SQLite file:
    any other command on a path that does not exist (a typo) says so, instead of creating
    an empty store and reporting it empty."""
    path = getattr(manager.store.sync, "path", None)
    if command in ("migrate", "import") or not isinstance(path, Path):
        return
    try:
        path.stat()
    except FileNotFoundError:
        raise ConfigError(
            "--store",
            f"no such file {str(path)!r} (check the path; `sessionary migrate` creates a new store)",
        ) from None
    except OSError:
        pass  # not ours to judge: opening the store reports it


def _reach(manager: SessionManager) -> None:
    """A PostgreSQL store is tried with one direct connection first: a one-off command
    then reports a server it cannot reach in one line, at once, instead of waiting out
    the pool's retries (and their log lines)."""
    settings = getattr(manager.store.sync, "settings", None)
    conninfo = getattr(settings, "conninfo", None)
    if not isinstance(conninfo, str):
        return
    # The command is the app here: the pool's own retry warnings would repeat the one line.
    pool_log = logging.getLogger("psycopg.pool")
    if pool_log.propagate:
        pool_log.addHandler(logging.NullHandler())
        pool_log.propagate = False
    import psycopg

    try:
        psycopg.connect(conninfo, autocommit=True).close()
    except psycopg.Error as exc:
        raise StoreUnavailable(manager.store.name, " ".join(str(exc).split()) or type(exc).__name__) from None


def _clear_expired(manager: SessionManager, args: argparse.Namespace, output: Output) -> int:
    if args.batch_size < 1:
        output.error("--batch-size must be at least 1")
        return 2
    total = 0
    started = time.monotonic()
    progress = sys.stderr if not (args.quiet or output.as_json) else None
    try:
        for count in manager.clear_expired(args.batch_size):
            total += count
            if progress is not None:
                print(f"\rdeleted {total} expired sessions…", end="", file=progress, flush=True)
    except UnsupportedOperation as exc:
        # A store that keeps nothing on the server (cookie://) has nothing to clear.
        value = {"store": manager.store.name, "deleted": 0, "supported": False, "reason": str(exc)}
        output.result(value, [f"Nothing to clear: {exc}."])
        return 0
    if progress is not None and total:
        print(file=progress)
    elapsed = time.monotonic() - started
    output.result(
        {"store": manager.store.name, "deleted": total, "seconds": round(elapsed, 3)},
        [f"Deleted {total} expired sessions from {manager.store.name} in {elapsed:.1f}s."],
    )
    return 0


def _import(manager: SessionManager, args: argparse.Namespace, output: Output) -> int:
    from .takeover.bulk import BulkReport, move_flask_sessions
    from .takeover.flask_session import FlaskSessionRedis, FlaskSessionSQL

    if args.batch_size < 1:
        output.error("--batch-size must be at least 1")
        return 2
    source: FlaskSessionRedis | FlaskSessionSQL
    if args.old_redis:
        source = FlaskSessionRedis(args.old_redis, key_prefix=args.key_prefix)
    else:
        source = FlaskSessionSQL(args.old_sql, table=args.table, key_prefix=args.key_prefix)
    progress = sys.stderr if not (args.quiet or output.as_json) else None

    def show(report: BulkReport) -> None:
        if progress is not None:
            print(f"\rread {report.seen} sessions, moved {report.moved}…", end="", file=progress, flush=True)

    started = time.monotonic()
    report = move_flask_sessions(manager, source, batch_size=args.batch_size, progress=show)
    if progress is not None and report.seen:
        print(file=progress)
    elapsed = time.monotonic() - started
    lines = [
        f"Moved {report.moved} sessions from {args.source} to {manager.store.name} in {elapsed:.1f}s "
        f"({report.present} moved by an earlier run, {report.unreadable} unreadable and "
        f"{report.odd_ids} with ids that are not tokens, left in place)."
    ]
    for key, count in sorted(report.refused_keys.items()):
        lines.append(f"  key {key!r} not carried in {count} sessions: its value cannot be stored as JSON")
    value = {
        "store": manager.store.name,
        "source": args.source,
        "moved": report.moved,
        "already_moved": report.present,
        "unreadable": report.unreadable,
        "odd_ids": report.odd_ids,
        "refused_keys": dict(report.refused_keys),
        "seconds": round(elapsed, 3),
    }
    output.result(value, lines)
    return 0


def _stats(manager: SessionManager, args: argparse.Namespace, output: Output) -> int:
    if args.top < 0:
        output.error("--top must be 0 or more")
        return 2
    health = check_health(manager)
    if not health.ok:
        output.error(health.error or "the store failed", store=manager.store.name, health=asdict(health))
        return 1
    counts = manager.stats()
    value: dict[str, Any] = {
        "store": manager.store.name,
        "live": counts.live,
        "expired": counts.expired,
        "health": {"ok": True, "seconds": round(health.seconds, 6)},
    }
    lines = [f"store:   {manager.store.name}", f"live:    {counts.live}", f"expired: {counts.expired}"]
    try:
        users = user_counts(manager, args.top)
    except UnsupportedOperation as exc:
        value["users"] = None
        lines.append(f"users:   not counted ({exc.reason})")
    else:
        value["users"] = {
            "users": users.users,
            "sessions": users.sessions,
            "anonymous": counts.live - users.sessions,
            "top": [{"user": user, "sessions": n} for user, n in users.top],
        }
        lines.append(
            f"users:   {users.users} signed in, holding {users.sessions} sessions "
            f"({counts.live - users.sessions} anonymous)"
        )
        if users.top:
            width = max(len(user) for user, _ in users.top)
            lines.append("top users by live sessions:")
            lines += [f"  {user.ljust(width)}  {n}" for user, n in users.top]
    lines.append(f"health:  ok (a lookup took {health.seconds * 1000:.1f} ms)")
    output.result(value, lines)
    return 0


def _migrate(manager: SessionManager, args: argparse.Namespace, output: Output) -> int:
    migrate = getattr(manager.store.sync, "migrate", None)
    if migrate is None:
        output.result(
            {"store": manager.store.name, "migrated": False},
            [f"{manager.store.name}: nothing to migrate (this store needs no schema)."],
        )
        return 0
    detail = migrate()
    output.result(
        {"store": manager.store.name, "migrated": True, "detail": detail},
        [f"{manager.store.name}: {detail}."],
    )
    return 0


def _device(device: Device) -> dict[str, Any]:
    return {
        name: value.isoformat() if hasattr(value, "isoformat") else value
        for name, value in asdict(device).items()
    }


def _sessions(manager: SessionManager, args: argparse.Namespace, output: Output) -> int:
    devices = manager.list_sessions(args.user)
    value = {"store": manager.store.name, "user": args.user, "sessions": [_device(d) for d in devices]}
    lines = table(devices) if devices else [f"User {args.user} has no live sessions."]
    output.result(value, lines)
    return 0


def _revoke(manager: SessionManager, args: argparse.Namespace, output: Output) -> int:
    if args.all:
        count = manager.revoke_all(args.user)
        output.result(
            {"store": manager.store.name, "user": args.user, "revoked": count, "all": True},
            [f"Revoked {count} sessions of user {args.user}; any other is refused from now on."],
        )
        return 0
    if manager.revoke(args.user, args.session):
        output.result(
            {"store": manager.store.name, "user": args.user, "revoked": 1, "session": args.session},
            [f"Revoked session {args.session} of user {args.user}."],
        )
        return 0
    output.error(f"user {args.user} has no live session {args.session}", user=args.user, session=args.session)
    return 1


_COMMANDS = {
    "clear-expired": _clear_expired,
    "stats": _stats,
    "import": _import,
    "migrate": _migrate,
    "sessions": _sessions,
    "revoke": _revoke,
}

if __name__ == "__main__":
    sys.exit(main())
