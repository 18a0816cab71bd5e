from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from sessionary.testing import FakeClock

# Fixtures other test modules share: ``throwaway_postgres``, a server a test may kill.
pytest_plugins = ["throwaway_postgres"]


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
