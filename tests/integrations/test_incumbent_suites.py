"""aiohttp-session's own tests, run against sessionary behind a thin adapter.

The sdist of the installed aiohttp-session is downloaded (``pip download --no-binary
:all: --no-deps``), its tests run with ``tests/incumbents`` first on ``sys.path`` (so
``import aiohttp_session`` is the adapter), and every test's outcome must be the one
listed here: the passes pass, and each failure is a difference documented in
docs/migrating-from-aiohttp-session.md ("aiohttp-session's own tests"). A new pass or a
new failure fails this test. Quart-Session's and Quart's sdists ship no tests; Sanic,
Tornado and aiohttp have no sessions of their own, so no session tests.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ElementTree
from importlib.metadata import version
from pathlib import Path

import pytest

from services import unavailable

pytestmark = pytest.mark.slow

ADAPTERS = Path(__file__).resolve().parents[1] / "incumbents"

# The storage-independent files; the Redis, Memcached, NaCl and encrypted-cookie files
# test those storages' own formats (and start their servers with Docker).
FILES = (
    "test_get_session.py",
    "test_http_exception.py",
    "test_response_types.py",
    "test_session_middleware.py",
    "test_path_domain.py",
    "test_cookie_storage.py",
    "test_abstract_storage.py",
)

PASSES = {
    "test_get_session::test_session_is_not_stored",
    "test_get_session::test_storage_returns_not_session_on_load_session",
    "test_get_session::test_get_new_session_bad_return",
    "test_http_exception::test_exceptions",
    "test_response_types::test_bad_response_type",
    "test_session_middleware::test_session_middleware_bad_storage",
    "test_cookie_storage::test_create_new_session",  # the session is a dict: == {} holds
}

# Each failure, by the documented difference it shows.
DIFFERENCES = {
    # aiohttp-session's Session built by hand and planted in the request.
    "test_get_session::test_get_stored_session": "hand-built Session",
    "test_get_session::test_get_new_session": "hand-built Session",
    "test_get_session::test_get_new_session_no_storage": "hand-built Session",
    # sessionary saves into a StreamResponse not yet prepared; aiohttp-session drops it.
    "test_response_types::test_stream_response": "unprepared stream saved",
    # A prepared response whose session did not change is passed on, not refused.
    "test_response_types::test_prepared_response_type": "prepared response passed on",
    # The cookie holds a token, not the data; a cookie the server never issued is not adopted.
    "test_path_domain::test_with_same_path_domain": "token cookie",
    "test_path_domain::test_with_different_path": "token cookie",
    "test_path_domain::test_with_different_domain": "token cookie",
    "test_path_domain::test_invalidate_with_same_path_domain": "token cookie",
    "test_cookie_storage::test_load_existing_session": "token cookie",
    "test_cookie_storage::test_change_session": "token cookie",
    "test_cookie_storage::test_clear_cookie_on_session_invalidation": "token cookie",
    "test_abstract_storage::test_max_age_session_reset": "token cookie",
    # A session cookie that is not a sessionary token is deleted, even when unused.
    "test_cookie_storage::test_dont_save_not_requested_session": "foreign cookie deleted",
    # sessionary's clock is its own (a Clock), not a patched time.time().
    "test_abstract_storage::test_max_age_also_returns_expires": "own clock",
}


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("aiohttp-session-sdist")
    pinned = f"aiohttp-session=={version('aiohttp-session')}"
    download = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-binary",
            ":all:",
            "--no-deps",
            pinned,
            "-d",
            str(folder),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    archives = list(folder.glob("*.tar.gz"))
    if download.returncode != 0 or not archives:
        unavailable(f"could not download the {pinned} sdist: {download.stderr.strip()[-300:]}")
    with tarfile.open(archives[0]) as archive:
        archive.extractall(folder, filter="data")
    (source,) = folder.glob("aiohttp[-_]session-*/tests")
    tests = folder / "suite" / "tests"
    shutil.copytree(source, tests)
    # Their conftest starts Redis and Memcached in Docker for the storage files left out.
    (tests / "conftest.py").write_text("")
    (folder / "suite" / "pytest.ini").write_text(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    return folder / "suite"


def test_aiohttp_sessions_own_tests(suite: Path) -> None:
    report = suite / "report.xml"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--junitxml={report}",
            *(f"tests/{name}" for name in FILES),
        ],
        cwd=suite,
        env={**_environ(), "PYTHONPATH": str(ADAPTERS)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    outcomes = {}
    for case in ElementTree.parse(report).iter("testcase"):
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
        failed = case.find("failure") is not None or case.find("error") is not None
        outcomes[name] = "failed" if failed else "passed"
    assert {name for name, outcome in outcomes.items() if outcome == "passed"} == PASSES
    assert {name for name, outcome in outcomes.items() if outcome == "failed"} == set(DIFFERENCES)


def _environ() -> dict[str, str]:
    import os

    return {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
