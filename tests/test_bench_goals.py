"""The goals' judging arithmetic (``bench/goals.py``), on synthetic results.

No timing is measured here: each test hands ``judge`` a results dictionary of the shape
``bench/sessions.py``, ``bench/scale.py`` and ``bench/coherence.py`` write, with figures
chosen to sit on either side of a goal's line, and checks the verdict, the figure quoted
and the cause given.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import goals  # noqa: E402

X = goals.X


def figures(cost: float, calls: float = 1.0, detail: str = "") -> dict[str, Any]:
    return {
        "median_us": cost + 50.0,
        "baseline_median_us": 50.0,
        "cost_us": cost,
        "ops": {"calls": calls, "reads": calls, "writes": 0, "detail": detail},
    }


def sessions(**overrides: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A run where every goal is met, but for ``overrides`` (contender -> scenario -> figures)."""
    results: dict[str, dict[str, Any]] = {
        "starsessions-redis": {"read": figures(300), "write": figures(300, 2), "new": figures(200)},
        "flask-session-redis": {"read": figures(200), "write": figures(400, 2), "new": figures(250)},
        "django-cache-redis": {"read": figures(320), "write": figures(800, 2), "new": figures(600)},
        "django-db-sqlite": {"read": figures(300), "write": figures(1600, 3)},
        "django-db-postgresql": {"read": figures(600), "write": figures(1600, 2)},
        "redis-get-async": {"read": figures(100)},
        "redis-get-sync": {"read": figures(60)},
        "psycopg-select-async": {"read": figures(150)},
        "psycopg-select-sync": {"read": figures(120)},
        "redis-get-django": {"read": figures(60)},
        "psycopg-select-django": {"read": figures(120)},
        "sessionary-asgi-sqlite-inline": {"read": figures(40)},
    }
    for adapter in ("asgi", "flask", "django"):
        floor = {"asgi": (100, 150), "flask": (60, 120), "django": (60, 120)}[adapter]
        results[f"sessionary-{adapter}-redis"] = {
            "read": figures(10, 0),
            "read-cold": figures(floor[0] * 1.1),
            "write": figures(90),
            "new": figures(90),
            "rolling": figures(10.5, 0),
            "untouched": figures(2.0, 0),
        }
        results[f"sessionary-{adapter}-postgresql"] = {
            "read": figures(100),
            "read-cold": figures(floor[1] * 1.1),
            "write": figures(700, 2),
            "rolling": figures(105),
            "untouched": figures(2.5, 0),
        }
        results[f"sessionary-{adapter}-sqlite"] = {
            "read": figures(25),
            "read-cold": figures(25),
            "write": figures(300, 3),
            "rolling": figures(26),
            "untouched": figures(1.0, 0),
        }
    results["sessionary-asgi-sqlite"]["read"] = figures(45)
    results["sessionary-asgi-sqlite"]["rolling"] = figures(46)
    for name, scenarios in overrides.items():
        results.setdefault(name, {}).update(scenarios)
    library = {"starsessions": "starsessions", "flask-session": "flask-session", "django": "django-x"}
    contenders = []
    for name in results:
        if name.startswith("sessionary-"):
            lib = "sessionary"
        elif name.startswith(("redis-get", "psycopg")):
            lib = "redis-py" if name.startswith("redis") else "psycopg"
        else:
            lib = next(v for k, v in library.items() if name.startswith(k))
        contenders.append(
            {"name": name, "library": lib, "store": name.split("-")[2] if lib == "sessionary" else ""}
        )
    return {"results": results, "contenders": contenders, "finished": "2026-01-01 00:00 UTC"}


def scale(worst: float = 1.1, sizes: tuple[int, ...] = (1000, 1_000_000)) -> dict[str, Any]:
    entries = [
        {
            "size": size,
            "op": "read",
            "ratio": 1.0 if size == sizes[0] else worst,
            "flat": (worst <= 1.2 or size == sizes[0]),
        }
        for size in sizes
    ]
    return {
        "sizes": list(sizes),
        "settings": {"flat": 1.2},
        "stores": [{"store": "redis", "requests": entries}],
    }


def coherence(*, near_cache: bool = True, stale_beyond: int = 0, delay_max: float = 3.0) -> dict[str, Any]:
    return {
        "bound_ms": 1000.0,
        "stores": [
            {
                "store": "redis",
                "near_cache": near_cache,
                "hit_rate": 0.93 if near_cache else None,
                "delay_ms": {"samples": 30, "p50": 0.5, "p99": 2.0, "max": delay_max},
                "stale_beyond_bound": stale_beyond,
                "stale_after_change": 2,
                "reads_after_change": 900,
            }
        ],
    }


def judged(run: goals.Run) -> dict[str, goals.Goal]:
    return {goal.key: goal for goal in goals.judge(run)}


def test_a_run_meeting_every_line_meets_every_goal() -> None:
    verdicts = judged(goals.Run(sessions(), scale(), coherence()))
    assert {key: goal.met for key, goal in verdicts.items() if goal.met is not True} == {}
    assert all(goal.cause == "" for goal in verdicts.values())


def test_cold_read_against_the_fastest_peer_and_the_floor() -> None:
    run = goals.Run(sessions(), scale(), coherence())
    goal = judged(run)["redis-read-cold-peer"]
    # The fastest peer's read is Flask-Session's 200 µs; ASGI's cold read 110 µs: 0.55x.
    assert f"asgi 0.55{X}" in goal.measured and "Flask-Session 200.0 µs" in goal.measured
    assert goal.met is True
    over = sessions(**{"sessionary-flask-redis": {"read-cold": figures(121)}})  # 0.605x the peer
    goal = judged(goals.Run(over, scale(), coherence()))["redis-read-cold-peer"]
    assert goal.met is False and f"flask 0.60{X}" in goal.measured
    # Against the floor in the same app: 1.5x the sync GET's 60 µs is 90 µs.
    edge = sessions(**{"sessionary-django-redis": {"read-cold": figures(90)}})
    assert judged(goals.Run(edge, scale(), coherence()))["redis-read-cold-floor"].met is True
    over = sessions(**{"sessionary-django-redis": {"read-cold": figures(90.5)}})
    goal = judged(goals.Run(over, scale(), coherence()))["redis-read-cold-floor"]
    assert (
        goal.met is False
        and f"django 1.51{X}" in goal.measured
        and "redis-get-django 60.0 µs" in goal.measured
    )


def test_the_spread_between_rounds_is_quoted_beside_the_cost() -> None:
    run = sessions()
    run["results"]["sessionary-asgi-redis"]["read-cold"]["cost_spread_us"] = [101.4, 122.6]
    goal = judged(goals.Run(run, scale(), coherence()))["redis-read-cold-peer"]
    assert f"asgi 0.55{X} (110.0 µs [101 to 123], 1 round trip;" in goal.measured


def test_hot_read_cause_names_the_round_trip_when_it_still_goes_to_the_store() -> None:
    run = goals.Run(sessions(**{"sessionary-asgi-redis": {"read": figures(150, 1)}}), scale(), coherence())
    goal = judged(run)["redis-read-hot-peer"]
    assert goal.met is False and f"asgi 0.75{X}" in goal.measured
    assert "asgi 1" in goal.cause and "no near-cache answers it" in goal.cause


def test_write_round_trips_and_their_cause() -> None:
    run = goals.Run(
        sessions(**{"sessionary-asgi-redis": {"write": figures(90, 2, "EVALSHA 2")}}), scale(), coherence()
    )
    verdicts = judged(run)
    assert verdicts["redis-write-trips"].met is False
    assert verdicts["redis-write-trips"].measured == "asgi 2; flask 1; django 1"
    assert "asgi: EVALSHA 2" in verdicts["redis-write-trips"].cause
    # 0.5x the fastest peer's write (starsessions 300 µs) is 150 µs.
    assert verdicts["redis-write-peer"].met is True
    over = goals.Run(sessions(**{"sessionary-flask-redis": {"new": figures(101)}}), scale(), coherence())
    goal = judged(over)["redis-new-peer"]
    assert goal.met is False and f"flask 0.51{X}" in goal.measured
    assert "no more round trips than the reference (flask 1 against 1)" in goal.cause


def test_the_asyncio_path_within_15_percent_of_its_floor() -> None:
    # ASGI's cold read on Redis is 110 µs against the asyncio GET's 100 µs: 1.10x, met.
    assert judged(goals.Run(sessions(), scale(), coherence()))["asyncio-floor"].met is True
    over = sessions(**{"sessionary-asgi-postgresql": {"read-cold": figures(173)}})  # 1.153x of 150 µs
    goal = judged(goals.Run(over, scale(), coherence()))["asyncio-floor"]
    assert goal.met is False and f"postgresql 1.15{X}" in goal.measured
    assert "postgresql 1 round trips against the bare call's 1" in goal.cause


def test_postgresql_and_sqlite_against_djangos_db_backend() -> None:
    verdicts = judged(goals.Run(sessions(), scale(), coherence()))
    assert f"django 0.17{X}" in verdicts["postgresql-read-django-db"].measured
    assert f"django 0.08{X}" in verdicts["sqlite-read-django-db"].measured
    over = sessions(
        **{
            "sessionary-django-postgresql": {"write": figures(801, 3)},
            "sessionary-django-sqlite": {"read": figures(31)},
        }
    )
    verdicts = judged(goals.Run(over, scale(), coherence()))
    assert verdicts["postgresql-write-django-db"].met is False
    assert "more store round trips than the reference (django 3 round trips against 2)" in (
        verdicts["postgresql-write-django-db"].cause
    )
    assert (
        verdicts["sqlite-read-django-db"].met is False
        and f"django 0.10{X}" in verdicts["sqlite-read-django-db"].measured
    )


def test_rolling_untouched_and_the_sqlite_thread() -> None:
    over = sessions(
        **{
            "sessionary-django-sqlite": {"rolling": figures(28, 2)},
            "sessionary-flask-redis": {"untouched": figures(3.2, 0)},
            "sessionary-asgi-sqlite": {"read": figures(49)},
        }
    )
    verdicts = judged(goals.Run(over, scale(), coherence()))
    rolling = verdicts["rolling"]
    assert (
        rolling.met is False
        and "django-sqlite +12%" in rolling.measured
        and "asgi-redis +5%" in rolling.measured
    )
    assert "django-sqlite (2 against 1 round trips)" in rolling.cause
    assert verdicts["untouched"].met is False and "flask-redis 3.2 µs" in verdicts["untouched"].measured
    # 49 µs against the inline store's 40 µs: 1.23x, over 1.2x.
    assert (
        verdicts["sqlite-async-read"].met is False
        and f"asgi 1.23{X}" in verdicts["sqlite-async-read"].measured
    )


def test_coherence_goals() -> None:
    verdicts = judged(goals.Run(sessions(), scale(), coherence(stale_beyond=1, delay_max=1500.0)))
    assert verdicts["coherence-stale"].met is False
    assert (
        verdicts["coherence-delay"].met is False
        and "0.50 / 2.00 / 1500.00 ms" in verdicts["coherence-delay"].measured
    )
    verdicts = judged(goals.Run(sessions(), scale(), coherence(near_cache=False)))
    goal = verdicts["coherence-hit-rate"]
    assert goal.met is False and "no near-cache on this store" in goal.measured
    assert goal.cause.startswith("no near-cache on redis")
    verdicts = judged(goals.Run(sessions(), scale(), None))
    assert {verdicts[k].met for k in ("coherence-delay", "coherence-stale", "coherence-hit-rate")} == {None}
    control = {**coherence(), "incoherent_control": True}
    verdicts = judged(goals.Run(sessions(), scale(), control))
    assert {verdicts[k].met for k in ("coherence-delay", "coherence-stale", "coherence-hit-rate")} == {None}
    assert "control run" in verdicts["coherence-stale"].measured


def test_scale_goal_needs_the_whole_range() -> None:
    assert judged(goals.Run(sessions(), scale(1.25), coherence()))["scale"].met is False
    goal = judged(goals.Run(sessions(), scale(1.1, (1000, 10_000)), coherence()))["scale"]
    assert goal.met is None and "not the 1k-to-1M range" in goal.measured
    assert judged(goals.Run(sessions(), None, coherence()))["scale"].met is None


def test_a_missing_contender_is_not_measured_never_met() -> None:
    run = sessions()
    for name in ("redis-get-async", "redis-get-sync", "redis-get-django"):
        del run["results"][name]
    goal = judged(goals.Run(run, scale(), coherence()))["redis-read-cold-floor"]
    assert goal.met is None and goal.measured == "not measured in this run"


def test_update_docs_writes_between_the_markers(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    (results / "sessions.json").write_text(
        json.dumps(sessions(**{"sessionary-asgi-redis": {"read": figures(150, 1)}}))
    )
    (results / "scale.json").write_text(json.dumps(scale()))
    doc, readme = tmp_path / "performance.md", tmp_path / "README.md"
    doc.write_text(f"before\n{goals.GOALS_BEGIN}\nold\n{goals.GOALS_END}\nafter\n")
    readme.write_text(f"top\n{goals.TABLE_BEGIN}\nold\n{goals.TABLE_END}\nbottom\n")
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "goals.py"),
            "--results",
            str(results),
            "--doc",
            str(doc),
            "--readme",
            str(readme),
            "--update-docs",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    text = doc.read_text()
    assert text.startswith("before\n") and text.endswith("after\n") and "\nold\n" not in text
    assert "| Redis read, hot (the same session read again) |" in text and "**not met**" in text
    assert "Coherence: invalidation delay under load" in text and "no coherence.json" in text
    table = readme.read_text()
    assert f"| ASGI on Redis, vs starsessions | 0.37{X} | 0.50{X} |" in table and "\nold\n" not in table
    assert json.loads((results / "goals.json").read_text())[0]["key"] == "redis-read-cold-peer"


@pytest.mark.parametrize("missing", ["sessions.json"])
def test_refuses_a_results_folder_without_a_run(tmp_path: Path, missing: str) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "goals.py"), "--results", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and f"no {tmp_path / missing}" in done.stderr
