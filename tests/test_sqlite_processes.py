"""The SQLite store shared by real processes: concurrent writers, and writers killed mid-write.

The workers are separate Python processes (tests/support/sqlite_worker.py) using the public API
on one file, as the workers of a web server would. A killed process must leave the file
readable (``PRAGMA integrity_check``) with every session whose save had returned intact.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sessionary import SessionManager
from support.sqlite_worker import value_of

WORKER = str(Path(__file__).parent / "support" / "sqlite_worker.py")


def spawn(*arguments: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, WORKER, *map(str, arguments)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def integrity(db: Path) -> str:
    connection = sqlite3.connect(db)
    try:
        (result,) = connection.execute("PRAGMA integrity_check").fetchone()
        return str(result)
    finally:
        connection.close()


def data_of(manager: SessionManager, token: str) -> dict[str, object]:
    return dict(manager.open(f"__Host-sessionid={token}").items())


def test_wal_mode_and_the_expiry_index(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    manager = SessionManager(f"sqlite:///{db}")
    session = manager.open(None)
    session["a"] = 1
    manager.close_session(session, 200)
    manager.close()
    connection = sqlite3.connect(db)
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        indexes = dict(
            connection.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'sessionary_sessions'"
            ).fetchall()
        )
        assert "(expires_at)" in indexes["sessionary_sessions_expires_at"]
        plan = " ".join(
            row[-1]
            for row in connection.execute(
                "EXPLAIN QUERY PLAN SELECT key FROM sessionary_sessions WHERE expires_at < ? LIMIT ?", (0, 10)
            )
        )
        assert "USING COVERING INDEX sessionary_sessions_expires_at" in plan or (
            "USING INDEX sessionary_sessions_expires_at" in plan
        )
        # The key is the SHA-256 of the token, never the token.
        ((key,),) = connection.execute("SELECT key FROM sessionary_sessions").fetchall()
        assert isinstance(key, bytes) and len(key) == 32
    finally:
        connection.close()


def test_processes_and_threads_writing_one_file_lose_nothing(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    manager = SessionManager(f"sqlite:///{db}")
    shared = []
    for index in range(4):
        session = manager.open(None)
        session["shared"] = index
        manager.close_session(session, 200)
        assert session.session_key is not None
        shared.append(session.session_key)
    manager.close()

    processes, threads, sessions = 4, 4, 40
    workers = [spawn("write", db, f"w{n}", threads, sessions, json.dumps(shared)) for n in range(processes)]
    owned = []
    for worker in workers:
        out, err = worker.communicate(timeout=240)
        assert worker.returncode == 0, err
        lines = out.splitlines()
        assert lines[-1] == "done"
        owned.extend(json.loads(line) for line in lines[:-1])
    assert len(owned) == processes * threads * sessions

    assert integrity(db) == "ok"
    manager = SessionManager(f"sqlite:///{db}")
    try:
        for entry in owned:
            name = entry["owner"]
            assert data_of(manager, entry["token"]) == {
                "owner": name,
                "number": entry["number"],
                "step": 2,
                f"seen-by-{name}": 2,
            }
        # Every process wrote its own keys into the same shared sessions; a lost update
        # (two read-modify-writes interleaving) would drop some of them.
        for index, token in enumerate(shared):
            expected: dict[str, object] = {"shared": index}
            for entry in owned:
                if entry["number"] % len(shared) == index:
                    expected[f"{entry['owner']}-{entry['number']}"] = entry["number"]
            assert data_of(manager, token) == expected
        assert manager.stats().live == len(owned) + len(shared)
    finally:
        manager.close()


def read_acks(worker: subprocess.Popen[str], count: int) -> list[str]:
    assert worker.stdout is not None
    acked = []
    while len(acked) < count:
        line = worker.stdout.readline()
        assert line, worker.stderr.read() if worker.stderr else "worker ended"
        acked.append(line.strip())
    return acked


def kill(worker: subprocess.Popen[str]) -> list[str]:
    """SIGKILL the worker; returns the complete lines it had printed meanwhile."""
    os.kill(worker.pid, signal.SIGKILL)
    out, _ = worker.communicate(timeout=30)
    assert worker.returncode == -signal.SIGKILL
    lines = out.split("\n")
    return [line for line in lines[:-1] if line]  # the last piece may be cut short


def test_process_killed_in_a_stream_of_writes_loses_no_acknowledged_session(tmp_path: Path) -> None:
    db = tmp_path / "killed.db"
    size = 200_000  # each save writes several pages, so a kill often lands inside one
    generator = random.Random(20260101)
    acked: list[str] = []
    for _ in range(4):
        worker = spawn("stream", db, size)
        acked += read_acks(worker, 5)
        time.sleep(generator.uniform(0, 0.05))
        acked += kill(worker)
        assert integrity(db) == "ok"
    manager = SessionManager(f"sqlite:///{db}", max_value_bytes=None)
    try:
        for token in acked:
            assert data_of(manager, token) == {"kind": "stream", "payload": value_of(token, size)}
        counts = manager.stats()
        # At most the one session being written when each process died may also exist.
        assert len(acked) <= counts.live <= len(acked) + 4
    finally:
        manager.close()


def test_process_killed_inside_a_large_transaction_leaves_committed_sessions_intact(tmp_path: Path) -> None:
    db = tmp_path / "held.db"
    worker = spawn("hold", db, 20, 5000)
    acked = read_acks(worker, 20)
    assert read_acks(worker, 1) == ["holding"]
    wal = Path(f"{db}-wal")
    assert wal.stat().st_size > 1_000_000  # the open transaction has written pages to the WAL
    assert kill(worker) == []

    assert integrity(db) == "ok"
    manager = SessionManager(f"sqlite:///{db}")
    try:
        for token in acked:
            assert data_of(manager, token) == {"payload": value_of("held", 64)}
        assert manager.stats().live == 20  # none of the uncommitted rows
        # The file takes new writes after the crash.
        session = manager.open(None)
        session["after"] = "crash"
        manager.close_session(session, 200)
        assert data_of(manager, str(session.session_key)) == {"after": "crash"}
    finally:
        manager.close()
    assert integrity(db) == "ok"


def test_processes_racing_to_create_a_new_file(tmp_path: Path) -> None:
    """Schema creation and the switch to WAL happen once, whoever opens the file first."""
    for attempt in range(3):
        db = tmp_path / f"fresh-{attempt}.db"
        workers = [spawn("write", db, f"w{n}", 2, 3, "[]") for n in range(4)]
        owned = []
        for worker in workers:
            out, err = worker.communicate(timeout=120)
            assert worker.returncode == 0, err
            owned.extend(json.loads(line) for line in out.splitlines()[:-1])
        assert integrity(db) == "ok"
        manager = SessionManager(f"sqlite:///{db}")
        try:
            assert manager.stats().live == len(owned) == 4 * 2 * 3
        finally:
            manager.close()


def test_synchronous_option_sets_the_durability_of_every_connection(tmp_path: Path) -> None:
    """``synchronous=normal`` is the default (WAL: a killed process loses nothing, a power
    cut may lose the last commits); ``?synchronous=full`` waits for the disk on every commit."""
    from sessionary.stores import open_store
    from sessionary.stores.sqlite import SQLiteBackend

    levels = {}
    for option in ("", "?synchronous=full", "?synchronous=normal"):
        store = open_store(f"sqlite:///{tmp_path / 'd.db'}{option}")
        backend = store.sync
        assert isinstance(backend, SQLiteBackend)
        levels[option] = backend._connection().execute("PRAGMA synchronous").fetchone()[0]
        store.close()
    assert levels == {"": 1, "?synchronous=full": 2, "?synchronous=normal": 1}  # NORMAL=1, FULL=2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_opens_a_connection_of_its_own(tmp_path: Path) -> None:
    """A server that used the store before forking its workers: the child never uses the
    connection it inherited (SQLite's locks belong to the process that took them)."""
    from sessionary.stores import open_store
    from sessionary.stores.sqlite import SQLiteBackend

    store = open_store(f"sqlite:///{tmp_path / 'f.db'}")
    backend = store.sync
    assert isinstance(backend, SQLiteBackend)
    inherited = backend._connection()
    assert backend._connection() is inherited  # one connection per thread, kept
    pid = os.fork()
    if pid == 0:  # the child: exit status 0 only if it opened its own and it works
        status = 1
        try:
            own = backend._connection()
            works = own.execute("SELECT count(*) FROM sessionary_sessions").fetchone() == (0,)
            status = 0 if own is not inherited and works else 2
        finally:
            os._exit(status)
    _, waited = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(waited) == 0, "the forked child used its parent's connection"
    assert backend._connection() is inherited  # the parent keeps its own
    store.close()
