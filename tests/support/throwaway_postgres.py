"""A PostgreSQL server of a test's own, on a free loopback port, that the test may kill.

Tests that stop, kill or restart the database use this, never the shared server::

    def test_outage(throwaway_postgres: ThrowawayPostgres) -> None:
        url = throwaway_postgres.url   # postgresql://postgres@127.0.0.1:PORT/postgres
        throwaway_postgres.kill()      # SIGKILL to the postmaster: a crash
        throwaway_postgres.start()     # crash recovery on the same data directory

The binaries come from ``$SESSIONARY_PG_BINDIR``, ``pg_config --bindir`` or
``/usr/lib/postgresql/<version>/bin``. PostgreSQL refuses to run as root, so when the
tests run as root the server runs as the ``postgres`` user, in a temporary directory
that user owns. When none of that is possible the test skips with the reason (and
fails in CI, through ``services.unavailable``).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.services import free_port, require_module, unavailable

SERVER_USER = "postgres"


def find_bindir() -> Path | None:
    """Where ``initdb`` and ``postgres`` are, or None."""
    candidates: list[Path] = []
    if os.environ.get("SESSIONARY_PG_BINDIR"):
        candidates.append(Path(os.environ["SESSIONARY_PG_BINDIR"]))
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True)
            candidates.append(Path(out.stdout.strip()))
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: p.parent.name, reverse=True)
    candidates.extend(versions)
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "postgres").is_file():
            return directory
    return None


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # The command name may hold spaces and parentheses: the ppid follows the last ")".
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


class ThrowawayPostgres:
    """One server: ``initdb`` once, then ``start`` / ``kill`` / ``stop`` as a test needs."""

    def __init__(self, bindir: Path, root: Path, *, run_as: str | None) -> None:
        self.bindir = bindir
        self.root = root
        self.data = root / "data"
        self.log = root / "server.log"
        self.port = free_port()
        self.run_as = run_as
        self.process: subprocess.Popen[bytes] | None = None

    @classmethod
    def create(cls) -> ThrowawayPostgres:
        """A fresh, initialised (not yet started) server; skips or fails when impossible."""
        require_module("psycopg")
        bindir = find_bindir()
        if bindir is None:
            unavailable("no PostgreSQL server binaries (initdb, postgres) found; set SESSIONARY_PG_BINDIR")
            raise AssertionError("unreachable")
        if not Path("/proc").is_dir():
            unavailable("the throwaway PostgreSQL server needs Linux /proc to follow its processes")
        run_as = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(SERVER_USER)
            except KeyError:
                unavailable(f"running as root, and there is no {SERVER_USER!r} user to run PostgreSQL as")
            run_as = SERVER_USER
        root = Path(tempfile.mkdtemp(prefix="sessionary-pg-"))
        if run_as is not None:
            shutil.chown(root, run_as, run_as)
        server = cls(bindir, root, run_as=run_as)
        server._run(
            [
                str(bindir / "initdb"),
                "-D",
                str(server.data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ]
        )
        return server

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_server_user(self) -> dict[str, object]:
        if self.run_as is None:
            return {}
        return {"user": self.run_as, "group": self.run_as, "extra_groups": []}

    def _run(self, command: list[str]) -> None:
        result = subprocess.run(
            command, cwd=self.root, capture_output=True, text=True, check=False, **self._as_server_user()
        )
        if result.returncode != 0:
            pytest.fail(f"{command[0]} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")

    # --- lifecycle -------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> None:
        """Start the postmaster (after a kill: crash recovery) and wait until it accepts connections."""
        import psycopg

        assert self.process is None, "already running"
        log = self.log.open("ab")
        self.process = subprocess.Popen(
            [
                str(self.bindir / "postgres"),
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-k",
                str(self.root),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "max_connections=40",
                "-c",
                "shared_buffers=16MB",
                "-c",
                "fsync=on",
            ],
            cwd=self.root,
            stdout=log,
            stderr=subprocess.STDOUT,
            **self._as_server_user(),  # type: ignore[arg-type]
        )
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                self.process = None
                pytest.fail(f"PostgreSQL did not start:\n{self.log_tail()}")
            try:
                with psycopg.connect(self.url, connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    pytest.fail(f"PostgreSQL not ready after {timeout} s:\n{self.log_tail()}")
                time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the postmaster, as a crash would, and wait until all its processes are gone."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        """Fast shutdown (SIGINT): clients are disconnected, everything is written."""
        self._signal(signal.SIGINT)

    def _signal(self, signum: int) -> None:
        process = self.process
        if process is None:
            return
        children = _children(process.pid)
        process.send_signal(signum)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        # Backends notice the postmaster's death and exit; a new postmaster cannot start
        # while one of them still holds the shared memory.
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in children):
            if time.monotonic() > deadline:
                for pid in children:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            time.sleep(0.02)
        self.process = None

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    """A started PostgreSQL server of this test's own (see the module docstring)."""
    server = ThrowawayPostgres.create()
    try:
        server.start()
        yield server
    finally:
        server.cleanup()
