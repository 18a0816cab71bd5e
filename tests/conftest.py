from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from sessionary.testing import FakeClock

# Fixtures other test modules share: ``throwaway_postgres``, a server a test may kill.
pytest_plugins = ["throwaway_postgres"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
