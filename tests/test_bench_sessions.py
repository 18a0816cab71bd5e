"""The comparative benchmark's smoke test: ``bench/sessions.py --quick`` over a few contenders.

Timings are never asserted (a benchmark's figures belong in docs/performance.md, not in a
test). Asserted is that it runs end to end and writes well-formed results: every
contender measured in every scenario, costs and store operations computed, each target
the Markdown and the plot written; ``read-cold`` reads sessions made by another process,
one fresh session per request. Redis and PostgreSQL contenders are
skipped by the script itself when the service is absent (and fail the run when
``SESSIONARY_REQUIRE_SERVICES=1``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from support.services import require_module

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = {"read", "read-cold", "write", "new", "rolling", "untouched"}
ONLY = (
    "sessionary-asgi-redis,sessionary-django-sqlite,django-db-sqlite,sessionary-django-postgresql,"
    "starlette-cookie,redis-get-async,psycopg-select-sync,redis-get-django"
)
FLOORS = {"redis-py", "psycopg"}


def test_quick_run_writes_well_formed_results(tmp_path: Path) -> None:
    require_module("matplotlib")
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "sessions.py"),
            "--quick",
            "--rounds=2",
            "--requests-per-round=5",
            "--count-requests=5",
            f"--only={ONLY}",
            f"--results-dir={tmp_path}",
            f"--image={tmp_path / 'performance.png'}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads((tmp_path / "sessions.json").read_text())
    measured = {c["name"]: c for c in report["contenders"]}
    assert set(measured) | set(report["skipped"]) == set(ONLY.split(","))
    assert {"sessionary-django-sqlite", "django-db-sqlite", "starlette-cookie"} <= set(measured)
    unsupported = {(u["contender"], u["scenario"]) for u in report["unsupported"]}
    for name, contender in measured.items():
        if contender["library"] in FLOORS:
            scenarios = {"read"}
        elif contender["library"] == "sessionary" and contender["store"] != "cookie":
            scenarios = set(SCENARIOS)
        else:
            scenarios = SCENARIOS - {"read-cold"}
        scenarios -= {s for c, s in unsupported if c == name}
        assert set(report["results"][name]) == scenarios, name
        for scenario in scenarios:
            figures = report["results"][name][scenario]
            assert figures["samples"] == 10, (name, scenario)
            assert 0 < figures["median_us"] <= figures["p99_us"], (name, scenario)
            assert 0 < figures["baseline_median_us"] <= figures["baseline_p99_us"], (name, scenario)
            assert isinstance(figures["cost_us"], float), (name, scenario)
            assert set(figures["ops"]) >= {"calls", "reads", "writes", "detail"}, (name, scenario)
    # The embedded store's operations are counted: a read reads, a write writes.
    sqlite = report["results"]["sessionary-django-sqlite"]
    assert sqlite["read"]["ops"]["reads"] > 0 and sqlite["read"]["ops"]["writes"] == 0
    assert sqlite["write"]["ops"]["writes"] > 0
    assert sqlite["untouched"]["ops"]["calls"] == 0
    assert sqlite["read-cold"]["ops"]["reads"] > 0
    # Each floor is one store call per request.
    for floor in ("redis-get-async", "psycopg-select-sync", "redis-get-django"):
        if floor in measured:
            assert report["results"][floor]["read"]["ops"]["calls"] > 0, floor
    assert any(row["peer"] == "django-db-sqlite" for row in report["ratios"])
    markdown = (tmp_path / "sessions.md").read_text()
    assert "| contender | read | read-cold | write | new | rolling | untouched |" in markdown
    assert "**Store round trips per request**" in markdown
    assert (tmp_path / "performance.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
