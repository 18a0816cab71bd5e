"""The cleanup that schedules itself, run by several real app processes on one store.

Each worker (tests/support/cleanup_worker.py) is a separate Python process with its own manager
on the same SQLite file or PostgreSQL tables, as the workers of a web server would be.
The store-side lease must let one of them clean at a time, about once per interval in
all, and every expired record must go while every live one stays.
"""

from __future__ import annotations

import gc
import itertools
import json
import logging
import os
import secrets
import subprocess
import sys
import time
import weakref
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sessionary import SessionManager
from sessionary.cleanup_scheduler import LEASE, CleanupScheduler
from sessionary.errors import ConfigError
from sessionary.testing import FakeClock
from support.postgres_helpers import drop_tables, postgres_url

WORKER = str(Path(__file__).parent / "support" / "cleanup_worker.py")
PROCESSES, INTERVAL, SECONDS = 4, 1, 7.0


def fill(url: str, count: int, *, expired: bool) -> list[str]:
    clock = FakeClock(datetime.now(UTC) - timedelta(days=31)) if expired else None
    manager = SessionManager(url, clock=clock, cleanup_interval=None)
    tokens = []
    try:
        for number in range(count):
            session = manager.open(None)
            session["n"] = number
            manager.close_session(session, 200)
            assert session.session_key is not None
            tokens.append(session.session_key)
    finally:
        manager.close()
    return tokens


def run_workers(url: str) -> list[dict[str, Any]]:
    """Start the workers, add expired records while they run, and collect their reports."""
    workers = [
        subprocess.Popen(
            [sys.executable, WORKER, url, str(INTERVAL), str(SECONDS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    try:
        time.sleep(2.5)
        fill(url, 300, expired=True)  # more garbage while they run: a later run removes it
        runs: list[dict[str, Any]] = []
        for worker in workers:
            out, err = worker.communicate(timeout=60)
            assert worker.returncode == 0, err
            lines = [json.loads(line) for line in out.splitlines()]
            assert lines[-1]["done"], out
            runs.extend(lines[:-1])
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    return sorted(runs, key=lambda run: run["started_at"])


def check_shared_cleanup(url: str) -> None:
    fill(url, 500, expired=True)
    live = fill(url, 50, expired=False)

    runs = run_workers(url)

    cleaned = [run for run in runs if run["outcome"] == "cleaned"]
    assert not [run for run in runs if run["outcome"] == "failed"], runs
    assert len({run["holder"] for run in runs}) == PROCESSES, "every process attempted"
    assert [run for run in runs if run["outcome"] == "skipped"], "the lease turned some attempts away"
    assert len(cleaned) >= 2, runs
    # One at a time, once per interval: a run begins only after the previous holder's
    # lease (one interval from its start) has ended.
    for before, after in itertools.pairwise(cleaned):
        assert after["started_at"] >= before["started_at"] + before["seconds"], (before, after)
        if after["holder"] != before["holder"]:
            assert after["started_at"] >= before["started_at"] + INTERVAL, (before, after)
    assert len(cleaned) <= SECONDS / INTERVAL + 2, "far fewer runs than processes x intervals"
    assert sum(run["removed"] for run in cleaned) == 800

    manager = SessionManager(url, cleanup_interval=None)
    try:
        counts = manager.stats()
        assert (counts.live, counts.expired) == (50, 0)
        for token in live:
            assert dict(manager.open(f"__Host-sessionid={token}").items()) != {}
    finally:
        manager.close()


@pytest.mark.slow
def test_several_processes_share_one_sqlite_file(tmp_path: Path) -> None:
    check_shared_cleanup(f"sqlite:///{tmp_path / 'sessions.db'}")


@pytest.mark.slow
@pytest.mark.postgres
def test_several_processes_share_one_postgresql_database() -> None:
    prefix = "cleanup_" + secrets.token_hex(4)
    url = postgres_url(table=prefix)
    manager = SessionManager(url, cleanup_interval=None)
    try:
        manager.store.sync.migrate()  # type: ignore[attr-defined]
    finally:
        manager.close()
    try:
        check_shared_cleanup(url)
    finally:
        drop_tables(prefix)


def test_a_lease_held_elsewhere_skips_and_every_run_is_logged_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'sessions.db'}"
    fill(url, 30, expired=True)
    manager = SessionManager(url)
    try:
        scheduler = manager.cleanup
        assert isinstance(scheduler, CleanupScheduler)
        assert scheduler.interval == 3600, "on by default, hourly"
        now = manager.now()
        assert manager.store.sync.lease(LEASE, "another-process", now + 60, now)  # type: ignore[attr-defined]
        with caplog.at_level(logging.DEBUG, logger="sessionary.cleanup"):
            skipped = scheduler.run_once()
            assert (skipped.outcome, skipped.removed) == ("skipped", 0)
            assert manager.stats().expired == 30
            # The other holder's lease ends: this process takes it and cleans.
            assert manager.store.sync.lease(LEASE, "another-process", now, now)  # type: ignore[attr-defined]
            cleaned = scheduler.run_once()
        assert (cleaned.outcome, cleaned.removed) == ("cleaned", 30)
        assert manager.stats().expired == 0
        totals = scheduler.totals
        assert (totals.cleaned, totals.skipped, totals.failed, totals.removed) == (1, 1, 0, 30)
        messages = [record.getMessage() for record in caplog.records]
        assert any("cleanup skipped: another process holds the lease" in m for m in messages)
        assert any(m.startswith("cleanup removed 30 expired sessions from sqlite:///") for m in messages)
        # Its own lease, still running: the same process may go again, nobody else may.
        assert not manager.store.sync.lease(LEASE, "another-process", now + 60, manager.now())  # type: ignore[attr-defined]
        assert scheduler.run_once().outcome == "cleaned"
    finally:
        manager.close()


def test_the_first_request_starts_it_and_close_stops_it(tmp_path: Path) -> None:
    manager = SessionManager(f"sqlite:///{tmp_path / 'sessions.db'}")
    assert manager.cleanup is not None
    assert manager.cleanup._thread is None, "nothing runs before the app serves"
    manager.open(None)
    thread = manager.cleanup._thread
    assert thread is not None and thread.is_alive() and thread.daemon
    manager.close()
    assert not thread.is_alive()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_a_forked_worker_starts_its_own_thread_at_its_first_request(tmp_path: Path) -> None:
    # A server that preloads the app serves a request, then forks: the child inherits the
    # scheduler but not its thread, and must start one of its own (with its own holder).
    manager = SessionManager(f"sqlite:///{tmp_path / 'sessions.db'}")
    assert manager.cleanup is not None
    manager.open(None)
    parent_holder = manager.cleanup.holder
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        try:
            scheduler = manager.cleanup
            before = scheduler._thread is not None and scheduler._thread.is_alive()
            manager.open(None)
            after = scheduler._thread is not None and scheduler._thread.is_alive()
            report = {"before": before, "after": after, "holder": scheduler.holder, "pid": os.getpid()}
            os.write(write, json.dumps(report).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        report = json.loads(pipe.read())
    os.waitpid(child, 0)
    try:
        assert report["before"] is False, "a fork's child has no thread of the parent's"
        assert report["after"] is True, "the child's first request starts its own"
        assert report["holder"] != parent_holder and f":{report['pid']}:" in report["holder"]
        assert manager.cleanup._thread is not None and manager.cleanup._thread.is_alive()
    finally:
        manager.close()


@pytest.mark.postgres
def test_a_store_without_the_lease_table_fails_loudly(caplog: pytest.LogCaptureFixture) -> None:
    prefix = "cleanup_" + secrets.token_hex(4)
    manager = SessionManager(postgres_url(table=prefix))
    try:
        assert manager.cleanup is not None
        with caplog.at_level(logging.WARNING, logger="sessionary.cleanup"):
            run = manager.cleanup.run_once()
        assert run.outcome == "failed"
        assert run.error is not None and f"{prefix}_leases" in run.error
        assert manager.cleanup.totals.failed == 1
        assert any("cleanup of postgresql://" in record.getMessage() for record in caplog.records)
    finally:
        manager.close()
        drop_tables(prefix)


def test_off_with_one_setting_and_absent_where_the_store_expires_records() -> None:
    assert SessionManager("sqlite:///:memory:", cleanup_interval=None).cleanup is None
    assert SessionManager("memory://").cleanup is None
    with pytest.raises(ConfigError, match="cleanup_interval"):
        SessionManager("memory://", cleanup_interval=0)
    with pytest.raises(ConfigError, match="cleanup_batch_size"):
        SessionManager("memory://", cleanup_batch_size=-1)


def test_a_manager_dropped_without_closing_takes_its_thread_with_it(tmp_path: Path) -> None:
    manager: SessionManager | None = SessionManager(f"sqlite:///{tmp_path / 's.db'}", cleanup_interval=1)
    assert manager is not None and manager.cleanup is not None
    manager.open(None)
    thread = manager.cleanup._thread
    assert thread is not None
    dropped = weakref.ref(manager)
    manager = None
    gc.collect()
    assert dropped() is None, "the thread does not keep the manager alive"
    thread.join(5)
    assert not thread.is_alive()
