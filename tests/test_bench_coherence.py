"""The coherence benchmark: its quick mode on Redis and PostgreSQL, and its arithmetic.

No timing is asserted (figures belong in docs/performance.md). What must hold on any
machine is: every change (logout, revocation, rotation) made by the writer process is
refused by every reader process, no reader serves an ended session beyond the bound, the
mix's reads return their own session, and round trips are counted. The near-cache, where a
store has none, is reported absent rather than given a hit rate.
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
sys.path.insert(0, str(ROOT / "bench"))

import coherence  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("kind", ["redis", "postgresql"])
def test_quick_run_refuses_every_ended_session_everywhere(tmp_path: Path, kind: str) -> None:
    if kind == "redis":
        require_module("redis")
        require_port("Redis", REDIS_HOST, REDIS_PORT)
    else:
        require_module("psycopg")
        require_port("PostgreSQL", POSTGRES_HOST, POSTGRES_PORT)
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "coherence.py"),
            "--quick",
            "--stores",
            kind,
            "--readers",
            "2",
            "--results",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads((tmp_path / "coherence.json").read_text())
    [store] = report["stores"]
    assert store["store"] == kind and store["changes"] == 6 and store["readers"] == 2
    assert store["unrefused"] == 0  # every reader saw every change
    assert store["stale_beyond_bound"] == 0
    assert store["mismatched_reads"] == 0 and store["mix_reads"] > 0
    assert store["delay_ms"]["samples"] == 6 * 2
    assert set(store["delay_ms_by_kind"]) == {"logout", "revoke", "rotate"}
    assert store["round_trips_per_read"] is not None
    if store["near_cache"]:
        assert 0 < store["hit_rate"] <= 1
    else:
        assert store["hit_rate"] is None and store["zero_trip_reads"] == 0
        assert store["round_trips_per_read"] >= 1  # every read went to the store
        assert "no near-cache on this store" in (tmp_path / "coherence.md").read_text()


def test_the_control_run_sees_stale_reads(tmp_path: Path) -> None:
    """Readers that keep copies never invalidated must be caught: the benchmark can fail."""
    require_module("redis")
    require_port("Redis", REDIS_HOST, REDIS_PORT)
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "coherence.py"),
            "--quick",
            "--stores",
            "redis",
            "--readers",
            "2",
            "--incoherent-control",
            "--results",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads((tmp_path / "coherence.json").read_text())
    [store] = report["stores"]
    assert store["near_cache"] and store["hit_rate"] > 0
    assert store["stale_beyond_bound"] > 0 and store["unrefused"] > 0
    assert "**Control run**" in (tmp_path / "coherence.md").read_text()


def change(kind: str, end: float) -> dict[str, object]:
    return {"kind": kind, "start": end - 0.001, "end": end}


def test_analysis_measures_the_delay_and_counts_stale_reads() -> None:
    changes = [change("logout", 10.0), change("rotate", 20.0)]
    reader = {
        "probes": [
            # served before the change, once 2 ms after it returned, then refused
            [[9.9, True], [10.002, True], [10.004, False]],
            # refused at once; then served again after the refusal: beyond any bound
            [[19.9, True], [20.001, False], [20.5, True]],
        ]
    }
    figures = coherence.analyse(changes, [reader], bound_ms=1000)
    assert figures["delay_ms"]["samples"] == 2
    assert figures["delay_ms"]["max"] == pytest.approx(500.0)
    assert figures["delay_ms_by_kind"]["logout"]["max"] == pytest.approx(2.0)
    assert figures["stale_after_change"] == 2
    assert figures["stale_beyond_bound"] == 1
    assert figures["reads_after_change"] == 4
    assert figures["unrefused"] == 0


def test_analysis_counts_a_change_never_refused_and_a_late_stale_read() -> None:
    changes = [change("revoke", 10.0)]
    reader = {"probes": [[[9.0, True], [10.5, True], [11.2, True]]]}
    figures = coherence.analyse(changes, [reader], bound_ms=1000)
    assert figures["unrefused"] == 1 and figures["delay_ms"]["samples"] == 0
    assert figures["stale_after_change"] == 2 and figures["stale_beyond_bound"] == 1
