"""A separate process writing sessions to one SQLite file, for test_sqlite_processes.py.

    python sqlite_worker.py write DB WORKER THREADS SESSIONS SHARED_TOKENS_JSON
        Each thread creates SESSIONS sessions, changes each twice, and writes its own key
        into every shared session; prints one JSON line per session it owns, then "done".
    python sqlite_worker.py stream DB VALUE_BYTES
        Creates sessions one after another forever, printing each token once its save
        has returned (acknowledged), until the process is killed.
    python sqlite_worker.py hold DB ACKED ROWS
        Saves ACKED sessions (printing each), then opens one large write transaction
        on the same file, prints "holding" and waits to be killed inside it.

Everything goes through the public API (SessionManager, open, close_session), as an
application's worker would, except the held transaction, which is plain sqlite3.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
import threading
import time

from sessionary import SessionManager


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def value_of(token: str, size: int) -> str:
    """Data derived from the token, so the parent can check it without being told."""
    seed = hashlib.sha256(token.encode()).hexdigest()
    return (seed * (size // len(seed) + 1))[:size]


def write(db: str, worker: str, threads: int, sessions: int, shared_json: str) -> None:
    manager = SessionManager(f"sqlite:///{db}")
    shared = json.loads(shared_json)
    lock = threading.Lock()
    failures: list[BaseException] = []

    def run(thread: int) -> None:
        try:
            name = f"{worker}-{thread}"
            for number in range(sessions):
                session = manager.open(None)
                session["owner"] = name
                session["number"] = number
                manager.close_session(session, 200)
                token = session.session_key
                assert token is not None
                for step in (1, 2):
                    session = manager.open(f"__Host-sessionid={token}")
                    session["step"] = step
                    session[f"seen-by-{name}"] = step
                    manager.close_session(session, 200)
                for index, shared_token in enumerate(shared):
                    if number % len(shared) == index:
                        session = manager.open(f"__Host-sessionid={shared_token}")
                        session[f"{name}-{number}"] = number
                        manager.close_session(session, 200)
                with lock:
                    say(json.dumps({"token": token, "owner": name, "number": number}))
        except BaseException as error:
            failures.append(error)
            raise

    workers = [threading.Thread(target=run, args=(thread,)) for thread in range(threads)]
    for each in workers:
        each.start()
    for each in workers:
        each.join()
    manager.close()
    if failures:
        raise SystemExit(f"worker {worker} failed: {failures[0]!r}")
    say("done")


def stream(db: str, size: int) -> None:
    manager = SessionManager(f"sqlite:///{db}", max_value_bytes=None)
    while True:
        session = manager.open(None)
        session["kind"] = "stream"
        manager.close_session(session, 200)
        token = session.session_key
        assert token is not None
        session = manager.open(f"__Host-sessionid={token}")
        session["payload"] = value_of(token, size)
        manager.close_session(session, 200)
        say(token)


def hold(db: str, acked: int, rows: int) -> None:
    manager = SessionManager(f"sqlite:///{db}")
    for _ in range(acked):
        session = manager.open(None)
        session["payload"] = value_of("held", 64)
        manager.close_session(session, 200)
        assert session.session_key is not None
        say(session.session_key)
    connection = sqlite3.connect(db, isolation_level=None)
    connection.execute("PRAGMA cache_size=50")  # spill the transaction's pages to the WAL early
    connection.execute("BEGIN IMMEDIATE")
    for number in range(rows):
        connection.execute(
            "INSERT INTO sessionary_sessions (key, data, meta, issued_at, expires_at) VALUES (?, ?, ?, ?, ?)",
            (hashlib.sha256(f"uncommitted-{number}".encode()).digest(), "x" * 1000, "{}", 0.0, 1e12),
        )
    connection.execute("UPDATE sessionary_sessions SET data = '{\"overwritten\":1}'")
    say("holding")
    time.sleep(600)


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    if command == "write":
        write(arguments[0], arguments[1], int(arguments[2]), int(arguments[3]), arguments[4])
    elif command == "stream":
        stream(arguments[0], int(arguments[1]))
    elif command == "hold":
        hold(arguments[0], int(arguments[1]), int(arguments[2]))
    else:
        raise SystemExit(f"unknown command {command!r}")
