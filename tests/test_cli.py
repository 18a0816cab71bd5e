"""The installed ``sessionary`` command, run as a real process against a real SQLite file.

The file is filled through the public API: expired sessions by a manager whose fake
clock stands a month in the past, live ones by a manager on the real clock (the
command itself always uses the real clock).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sessionary import SessionManager
from sessionary.auth import login
from sessionary.testing import FakeClock
from support.services import demo_command, free_port

COMMAND = Path(sys.executable).with_name("sessionary")
EXPIRED, LIVE = 2500, 40


def run(*arguments: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    assert COMMAND.exists(), f"the entry point is not installed at {COMMAND}"
    # Bytes, decoded here: text mode would turn the progress display's "\r" into "\n".
    result = subprocess.run(
        [str(COMMAND), *arguments], capture_output=True, timeout=120, env=env, check=False
    )
    return subprocess.CompletedProcess(
        result.args, result.returncode, result.stdout.decode("utf-8"), result.stderr.decode("utf-8")
    )


def fill(manager: SessionManager, count: int, label: str) -> list[str]:
    tokens = []
    for number in range(count):
        session = manager.open(None)
        session["who"] = f"{label}-{number}"
        manager.close_session(session, 200)
        assert session.session_key is not None
        tokens.append(session.session_key)
    return tokens


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[str]]:
    """A store URL holding EXPIRED expired and LIVE live sessions, and the live tokens."""
    db = tmp_path_factory.mktemp("cli") / "sessions.db"
    url = f"sqlite:///{db}"
    past = SessionManager(url, clock=FakeClock(datetime.now(UTC) - timedelta(days=31)))
    fill(past, EXPIRED, "expired")
    past.close()
    present = SessionManager(url)
    live = fill(present, LIVE, "live")
    present.close()
    return url, live


def stats(url: str) -> tuple[int, int]:
    result = run("stats", "--store", url)
    assert result.returncode == 0, result.stderr
    match = re.match(rf"store:   {re.escape(url)}\nlive:    (\d+)\nexpired: (\d+)\n", result.stdout)
    assert match, result.stdout
    return int(match[1]), int(match[2])


def test_stats_then_clear_expired_in_batches(populated: tuple[str, list[str]]) -> None:
    url, live = populated
    assert stats(url) == (LIVE, EXPIRED)

    result = run("clear-expired", "--store", url, "--batch-size", "1000")
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(
        rf"Deleted {EXPIRED} expired sessions from {re.escape(url)} in \d+\.\ds\.\n", result.stdout
    ), result.stdout
    # The progress display counts up batch by batch on stderr, then ends its line.
    progress = [int(n) for n in re.findall(r"\rdeleted (\d+) expired sessions…", result.stderr)]
    assert progress == [1000, 2000, 2500]
    assert result.stderr.endswith("\n")

    assert stats(url) == (LIVE, 0)
    manager = SessionManager(url)
    try:
        for number, token in enumerate(live):
            assert manager.open(f"__Host-sessionid={token}").get("who") == f"live-{number}"
    finally:
        manager.close()

    again = run("clear-expired", "--store", url)
    assert again.returncode == 0
    assert again.stdout.startswith("Deleted 0 expired sessions")
    assert again.stderr == ""


def test_quiet_prints_only_the_count(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/quiet.db"
    past = SessionManager(url, clock=FakeClock(datetime.now(UTC) - timedelta(days=31)))
    fill(past, 30, "expired")
    past.close()
    result = run("clear-expired", "--store", url, "--batch-size", "7", "--quiet")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("Deleted 30 expired sessions")


def test_store_from_the_environment(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/env.db"
    manager = SessionManager(url)
    fill(manager, 3, "live")
    manager.close()
    env = {**os.environ, "SESSIONARY_STORE": url}
    result = run("stats", env=env)
    assert result.returncode == 0, result.stderr
    assert f"store:   {url}\nlive:    3\n" in result.stdout


@pytest.mark.parametrize(
    ("arguments", "status", "message"),
    [
        (
            ["stats", "--store", "mysql://localhost/x"],
            1,
            "sessionary: store: unknown store URL 'mysql://localhost/x'",
        ),
        (
            ["stats", "--store", "sqlite:////nonexistent-dir/x/s.db"],
            1,
            "sessionary: --store: no such file '/nonexistent-dir/x/s.db'",
        ),
        (["demo", "--port", "99999"], 2, "sessionary: --port 99999 is not a port number (1 to 65535)"),
        (
            ["clear-expired", "--store", "memory://", "--batch-size", "0"],
            2,
            "--batch-size must be at least 1",
        ),
        (["clear-expired", "--batch-size", "many"], 2, "invalid int value: 'many'"),
        (["vacuum"], 2, "invalid choice: 'vacuum'"),
        ([], 2, "the following arguments are required: COMMAND"),
        (["stats", "--top", "-1", "--store", "memory://"], 2, "--top must be 0 or more"),
    ],
)
def test_errors_are_one_clear_line_and_a_status(arguments: list[str], status: int, message: str) -> None:
    result = run(*arguments)
    assert result.returncode == status
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    # One line, after argparse's usage lines where it speaks.
    assert len([line for line in result.stderr.splitlines() if not line.startswith(("usage:", " "))]) == 1


def test_a_mistyped_sqlite_path_creates_nothing(tmp_path: Path) -> None:
    for command in (
        ["stats"],
        ["clear-expired"],
        ["sessions", "--user", "1"],
        ["revoke", "--user", "1", "--all"],
    ):
        result = run(*command, "--store", f"sqlite:///{tmp_path}/sesions.db")
        assert result.returncode == 1, command
        assert result.stderr == (
            f"sessionary: --store: no such file '{tmp_path}/sesions.db' "
            "(check the path; `sessionary migrate` creates a new store)\n"
        )
    assert list(tmp_path.iterdir()) == []


def test_an_unreachable_postgresql_is_one_line_without_the_pools_retries() -> None:
    from support.services import free_port, require_module

    require_module("psycopg")
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/test"  # nothing listens there
    result = run("stats", "--store", url)
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"sessionary: session store {url} failed: connection failed:"), line
    assert "Connection refused" in line and "pool_timeout" not in line  # no wait for the pool


def test_stats_on_a_read_only_sqlite_file() -> None:
    """A file the user may read but not write: the counts, and nothing created or changed."""
    with tempfile.TemporaryDirectory(prefix="sessionary-ro-") as folder:  # reachable by any user
        _stats_on_a_read_only_file(Path(folder))


def _stats_on_a_read_only_file(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    manager = SessionManager(f"sqlite:///{db}")
    fill(manager, 3, "live")
    manager.close()
    db.chmod(0o444)
    # Nor may the user write the folder: SQLite cannot make its WAL index (-shm) next to
    # the file, which a read-write connection needs before its first read.
    tmp_path.chmod(0o555)
    command = [sys.executable, "-m", "sessionary.cli", "stats", "--store", f"sqlite:///{db}"]
    options: dict[str, object] = {}
    if os.geteuid() == 0:  # root writes any file: run as a user who cannot
        command[0] = _interpreter_for("nobody")
        options = {"user": "nobody", "env": {"PYTHONPATH": str(Path(__file__).parents[1] / "src")}}
    before = sorted(tmp_path.iterdir()), db.read_bytes()
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False, **options)  # type: ignore[call-overload]
    finally:
        tmp_path.chmod(0o755)
    assert result.returncode == 0, result.stderr
    assert "live:    3" in result.stdout
    assert (sorted(tmp_path.iterdir()), db.read_bytes()) == before


def _interpreter_for(user: str) -> str:
    """A Python 3.11+ that ``user`` may run (the core needs only the standard library)."""
    from support.services import unavailable

    for candidate in (sys.executable, "/usr/bin/python3"):
        try:
            probe = subprocess.run(
                [candidate, "-c", "import sys; sys.exit(sys.version_info < (3, 11))"],
                user=user,
                capture_output=True,
                check=False,
            )
        except OSError:  # not even executable for that user
            continue
        if probe.returncode == 0:
            return candidate
    unavailable(
        f"no Python 3.11+ that the user {user!r} may run, to read a file as someone who cannot write it"
    )
    raise AssertionError("unreachable")


def test_corrupt_file_is_reported_not_crashed_on(tmp_path: Path) -> None:
    db = tmp_path / "corrupt.db"
    db.write_bytes(b"not a database " * 500)
    result = run("stats", "--store", f"sqlite:///{db}")
    assert result.returncode == 1
    assert result.stderr == f"sessionary: session store sqlite:///{db} failed: file is not a database\n"


def test_version() -> None:
    from sessionary.cli import version

    result = run("--version")
    assert (result.returncode, result.stdout) == (0, f"sessionary {version()}\n")
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", version())
    assert json.loads(run("--version", "--json").stdout) == {"version": version()}


def signed_in(url: str, users: dict[str, int], anonymous: int) -> None:
    manager = SessionManager(url, cleanup_interval=None)
    try:
        for user, count in users.items():
            for _ in range(count):
                session = manager.open(None)
                login(session, user)
                manager.close_session(session, 200)
        fill(manager, anonymous, "anonymous")
    finally:
        manager.close()


def test_stats_counts_users_and_checks_health(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/users.db"
    signed_in(url, {"alice": 3, "bob": 1, "carol": 2}, anonymous=4)
    result = run("stats", "--store", url, "--top", "2")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:4] == [
        f"store:   {url}",
        "live:    10",
        "expired: 0",
        "users:   3 signed in, holding 6 sessions (4 anonymous)",
    ]
    assert lines[4:7] == ["top users by live sessions:", "  alice  3", "  carol  2"]
    assert re.fullmatch(r"health:  ok \(a lookup took \d+\.\d ms\)", lines[7])

    report = json.loads(run("stats", "--store", url, "--json", "--top", "2").stdout)
    assert report["health"]["ok"] is True and report["health"]["seconds"] >= 0
    assert {k: report[k] for k in ("store", "live", "expired")} == {"store": url, "live": 10, "expired": 0}
    assert report["users"] == {
        "users": 3,
        "sessions": 6,
        "anonymous": 4,
        "top": [{"user": "alice", "sessions": 3}, {"user": "carol", "sessions": 2}],
    }


def test_every_command_speaks_json(tmp_path: Path, populated: tuple[str, list[str]]) -> None:
    url = f"sqlite:///{tmp_path}/json.db"
    signed_in(url, {"dave": 2}, anonymous=0)
    migrated = json.loads(run("--json", "migrate", "--store", "memory://").stdout)
    assert migrated == {"store": "memory://", "migrated": False}

    listed = json.loads(run("sessions", "--store", url, "--user", "dave", "--json").stdout)
    assert listed["user"] == "dave" and len(listed["sessions"]) == 2
    first = listed["sessions"][0]
    assert set(first) == {
        "handle",
        "created_at",
        "last_seen",
        "expires_at",
        "signed_in_at",
        "ip",
        "user_agent",
        "current",
    }
    datetime.fromisoformat(first["expires_at"])

    one = run("revoke", "--store", url, "--user", "dave", "--session", first["handle"], "--json")
    assert json.loads(one.stdout) == {"store": url, "user": "dave", "revoked": 1, "session": first["handle"]}
    missing = run("revoke", "--store", url, "--user", "dave", "--session", first["handle"], "--json")
    assert missing.returncode == 1 and missing.stdout == ""
    assert json.loads(missing.stderr)["error"] == f"user dave has no live session {first['handle']}"
    everything = json.loads(run("revoke", "--store", url, "--user", "dave", "--all", "--json").stdout)
    assert everything == {"store": url, "user": "dave", "revoked": 1, "all": True}

    cleared = run("clear-expired", "--store", url, "--json")
    assert cleared.stderr == "", "no progress display in JSON"
    value = json.loads(cleared.stdout)
    assert (value["store"], value["deleted"]) == (url, 0) and value["seconds"] >= 0

    missing = run("stats", "--store", "sqlite:////nonexistent-dir/x/s.db", "--json")
    assert missing.returncode == 1 and missing.stdout == ""
    assert "no such file '/nonexistent-dir/x/s.db'" in json.loads(missing.stderr)["error"]
    down = f"redis://127.0.0.1:{free_port()}/0?socket_connect_timeout=0.5"
    broken = run("stats", "--store", down, "--json")
    assert broken.returncode == 1 and broken.stdout == ""
    failure = json.loads(broken.stderr)
    assert f"session store {down} failed" in failure["error"]
    assert failure["health"]["ok"] is False and failure["store"] == down


def test_demo_announces_itself_in_json(tmp_path: Path) -> None:
    with demo_command("--json", "--store", f"sqlite:///{tmp_path}/demo.db", cwd=tmp_path) as demo:
        pass
    first = demo.output.splitlines()[0]
    assert json.loads(first) == {
        "url": demo.base + "/",
        "store": f"sqlite:///{tmp_path}/demo.db",
    }
