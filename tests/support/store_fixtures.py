"""``store`` and ``store_name``: any test taking ``store`` runs once per store of the
conformance registry (tests/conformance/stores.py), each time on a fresh, isolated store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.stores import FACTORIES
from sessionary.stores import Store


@pytest.fixture(params=sorted(FACTORIES))
def store_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def store(store_name: str, tmp_path: Path) -> Iterator[Store]:
    with FACTORIES[store_name](tmp_path) as opened:
        yield opened
