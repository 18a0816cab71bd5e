from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from sessionary.testing import FakeClock

# Fixtures test modules share: ``store`` (every store of the conformance registry) and
# ``throwaway_postgres`` (a server a test may kill).
pytest_plugins = ["store_fixtures", "throwaway_postgres"]


def pytest_configure(config: pytest.Config) -> None:
    # Django's settings can be configured once per process: do it before any test module
    # does, with what the Django integration's tests need (apps, a database, urls).
    try:
        import django  # noqa: F401
    except ImportError:
        return
    from djangotests.settings import configure

    configure()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


_SERVICE_SKIPS: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and "is not reachable on" in str(report.longrepr):
        _SERVICE_SKIPS.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """``SESSIONARY_EXPECT_SKIPS=1`` (``scripts/test-without-services``): a run with the
    services unreachable must have skipped tests that need them, with the reason."""
    if os.environ.get("SESSIONARY_EXPECT_SKIPS") == "1" and not _SERVICE_SKIPS and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if os.environ.get("SESSIONARY_EXPECT_SKIPS") == "1":
        terminalreporter.write_line(
            f"SESSIONARY_EXPECT_SKIPS=1: {len(_SERVICE_SKIPS)} tests skipped for an unreachable service",
            red=not _SERVICE_SKIPS,
        )
