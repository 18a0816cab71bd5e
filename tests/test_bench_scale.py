"""The scale benchmark's quick form runs on every store and writes well-formed results.

Only that it runs is asserted here, never a timing: the figures belong to the benchmark
(``bench/scale.py``, docs/performance.md). The run itself checks what must hold whatever
the machine's speed: bulk-loaded sessions read back exactly through the store API, the
Redis layout matches the store's own, every request finds its session, and every
listing returns the user's sessions.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from support.services import (
    POSTGRES_HOST,
    POSTGRES_PORT,
    REDIS_HOST,
    REDIS_PORT,
    require_module,
    require_port,
)

ROOT = Path(__file__).resolve().parent.parent
OPERATIONS = {"read", "write", "rolling", "load"}


def scale(*arguments: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / "scale.py"), *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


@pytest.mark.parametrize("kind", ["sqlite", "redis", "postgresql"])
def test_quick_scale_run_writes_well_formed_results(tmp_path: Path, kind: str) -> None:
    if kind == "redis":
        require_module("redis")
        require_port("Redis", REDIS_HOST, REDIS_PORT)
    if kind == "postgresql":
        require_module("psycopg")
        require_port("PostgreSQL", POSTGRES_HOST, POSTGRES_PORT)
    kinds = [kind]
    run = scale("--quick", "--stores", kind, "--results", str(tmp_path))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads((tmp_path / "scale.json").read_text())
    sizes = report["sizes"]
    assert sizes == [200, 1000]
    assert [result["store"] for result in report["stores"]] == kinds
    for result in report["stores"]:
        assert [load["size"] for load in result["loads"]] == sizes
        assert sum(load["added"] for load in result["loads"]) == sizes[-1]
        assert {(entry["size"], entry["op"]) for entry in result["requests"]} == {
            (size, op) for size in sizes for op in OPERATIONS
        }
        assert {(entry["size"], entry["user_sessions"]) for entry in result["lists"]} == {
            (size, owned) for size in sizes for owned in (1, 10, 100)
        }
        for entry in result["requests"] + result["lists"]:
            assert entry["samples"] > 0
            assert entry["median_ms"] > 0 and entry["p99_ms"] >= entry["median_ms"]
            assert entry["ratio"] > 0 and isinstance(entry["flat"], bool)
    assert len(report["verdicts"]) == (len(OPERATIONS) + 1) * len(kinds)
    markdown = (tmp_path / "scale.md").read_text()
    for kind in kinds:
        assert f"### {kind}" in markdown
    assert "| 1,000 | rolling |" in markdown


def test_sizes_must_leave_room_for_the_listed_users(tmp_path: Path) -> None:
    run = scale("--sizes", "100,1000", "--results", str(tmp_path))
    assert run.returncode == 2 and "--sizes must grow and start at 112" in run.stderr
    assert not (tmp_path / "scale.json").exists()


def test_refuses_a_server_off_loopback(tmp_path: Path) -> None:
    run = scale("--quick", "--redis", "redis://10.0.0.5:6379/0", "--results", str(tmp_path))
    assert run.returncode == 2 and "must be on loopback" in run.stderr
