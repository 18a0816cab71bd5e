#!/usr/bin/env python3
"""The performance goals, judged from one run's results (a benchmark report, not a test).

    .venv/bin/python bench/goals.py [--results bench/results] [--update-docs]

Reads what ``bench/sessions.py`` (``sessions.json``), ``bench/scale.py`` (``scale.json``)
and ``bench/coherence.py`` (``coherence.json``) wrote in the same ``scripts/bench`` run,
and judges every goal: the measured figure, the target, met or not met, and for a goal not
met the cause, worded from what the same run measured (round trips counted on the store,
the near-cache's presence). A goal whose figures are missing from the run is "not
measured", never met. Prints the table, writes ``goals.json`` and ``goals.md`` beside the
results and, with ``--update-docs``, the goals section of docs/performance.md and the
README's performance table (between their markers).

Costs are session-layer costs: a request's median minus the same request's median to the
same app without sessions, in the same process (see ``bench/sessions.py``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
X = "\N{MULTIPLICATION SIGN}"
GOALS_BEGIN, GOALS_END = "<!-- goals:begin -->", "<!-- goals:end -->"
TABLE_BEGIN, TABLE_END = "<!-- performance-table:begin -->", "<!-- performance-table:end -->"

ADAPTERS = ("asgi", "flask", "django")
REDIS_PEERS = ("starsessions-redis", "flask-session-redis", "django-cache-redis")
PEER_LABELS = {
    "starsessions-redis": "starsessions",
    "flask-session-redis": "Flask-Session",
    "django-cache-redis": "Django cache",
    "django-db-sqlite": "Django db (SQLite)",
    "django-db-postgresql": "Django db (PostgreSQL)",
}
LABEL_NAMES = {label: name for name, label in PEER_LABELS.items()}
# The bare call in the same app each adapter's cold read is held against: the asyncio
# call in a Starlette app for ASGI, the sync call in a Flask app for Flask and in a Django
# project for the Django engine.
REDIS_FLOORS = {"asgi": "redis-get-async", "flask": "redis-get-sync", "django": "redis-get-django"}
PG_FLOORS = {
    "asgi": "psycopg-select-async",
    "flask": "psycopg-select-sync",
    "django": "psycopg-select-django",
}
STORES = ("redis", "sqlite", "postgresql", "cookie")


@dataclass
class Goal:
    """One goal's verdict: ``met`` is None when the run did not measure it."""

    key: str
    goal: str
    target: str
    measured: str
    met: bool | None
    cause: str = ""
    parts: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Part:
    label: str
    value: float | None
    ok: bool | None
    text: str
    ref: str = ""  # the contender held against, where there is one


class Run:
    """Read access to one run's figures."""

    def __init__(
        self, sessions: dict[str, Any], scale: dict[str, Any] | None, coherence: dict[str, Any] | None
    ):
        self.sessions = sessions
        self.results: dict[str, dict[str, Any]] = sessions.get("results", {})
        self.scale = scale
        self.coherence = coherence
        self.total_seconds: float | None = None

    def cost(self, name: str, scenario: str) -> float | None:
        figures = self.results.get(name, {}).get(scenario)
        if not figures:
            return None
        if "cost_us" in figures:
            return float(figures["cost_us"])
        if "baseline_median_us" in figures:
            return float(figures["median_us"]) - float(figures["baseline_median_us"])
        return None

    def spread(self, name: str, scenario: str) -> str:
        """`` [a to b]``: the cost's interquartile range between rounds, where the run has it."""
        values = self.results.get(name, {}).get(scenario, {}).get("cost_spread_us")
        return f" [{values[0]:.0f} to {values[1]:.0f}]" if values and len(values) == 2 else ""

    def trips(self, name: str, scenario: str) -> float | None:
        figures = self.results.get(name, {}).get(scenario)
        if not figures:
            return None
        ops = figures.get("ops") or {}
        calls = ops.get("calls")
        return None if calls is None else float(calls)

    def fastest_peer(self, scenario: str) -> tuple[str, float] | None:
        measured = [(c, p) for p in REDIS_PEERS if (c := self.cost(p, scenario)) is not None and c > 0]
        if not measured:
            return None
        value, peer = min(measured)
        return peer, value


def _ratio_text(ratio: float) -> str:
    return f"{ratio:.2f}{X}"


def _trip_text(trips: float | None) -> str:
    return "" if trips is None else f", {trips:.2g} round trip{'s' if f'{trips:.2g}' != '1' else ''}"


def _verdict(parts: list[Part]) -> bool | None:
    if not parts or any(p.ok is None for p in parts):
        return None
    return all(p.ok for p in parts)


def _goal(key: str, goal: str, target: str, parts: list[Part], missing: str = "") -> Goal:
    if not parts:
        return Goal(key, goal, target, missing or "not measured in this run", None)
    return Goal(
        key,
        goal,
        target,
        "; ".join(p.text for p in parts),
        _verdict(parts),
        parts=[asdict(p) for p in parts],
    )


def ratio_parts(
    run: Run,
    names: dict[str, str],
    scenario: str,
    reference: Callable[[str], tuple[str, float] | None],
    limit: float,
    *,
    with_trips: bool = True,
    ref_scenario: str = "read",
) -> list[Part]:
    """One part per adapter: its cost in ``scenario`` over the reference's, against ``limit``."""
    parts = []
    for label, name in names.items():
        mine = run.cost(name, scenario)
        ref = reference(label)
        if mine is None or ref is None:
            continue
        ref_label, ref_value = ref
        ratio = mine / ref_value if ref_value > 0 else float("inf")
        trips = _trip_text(run.trips(name, scenario)) if with_trips else ""
        parts.append(
            Part(
                label,
                ratio,
                ratio <= limit,
                f"{label} {_ratio_text(ratio)} ({mine:.1f} µs{run.spread(name, scenario)}{trips}; "
                f"{ref_label} {ref_value:.1f} µs{run.spread(LABEL_NAMES.get(ref_label, ref_label), ref_scenario)})",
                LABEL_NAMES.get(ref_label, ref_label),
            )
        )
    return parts


def redis_names(run: Run) -> dict[str, str]:
    return {a: f"sessionary-{a}-redis" for a in ADAPTERS if f"sessionary-{a}-redis" in run.results}


def stored_names(run: Run) -> list[str]:
    contenders = run.sessions.get("contenders", [])
    return [c["name"] for c in contenders if c.get("library") == "sessionary" and c["name"] in run.results]


def judge(run: Run) -> list[Goal]:
    goals: list[Goal] = []
    redis = redis_names(run)

    def peer(scenario: str) -> Callable[[str], tuple[str, float] | None]:
        def reference(_: str) -> tuple[str, float] | None:
            best = run.fastest_peer(scenario)
            return None if best is None else (PEER_LABELS[best[0]], best[1])

        return reference

    def floor(floors: dict[str, str]) -> Callable[[str], tuple[str, float] | None]:
        def reference(adapter: str) -> tuple[str, float] | None:
            name = floors[adapter]
            value = run.cost(name, "read")
            return None if value is None else (name, value)

        return reference

    # Redis reads: the peers' read is always cold (they keep no cache of their own).
    goals.append(
        _goal(
            "redis-read-cold-peer",
            "Redis read, cold (a session this process has not cached)",
            f"≤ 0.6{X} the fastest peer's read",
            ratio_parts(run, redis, "read-cold", peer("read"), 0.6),
        )
    )
    goals.append(
        _goal(
            "redis-read-cold-floor",
            "Redis read, cold, against a bare `GET` in the same app",
            f"≤ 1.5{X} the bare `GET`",
            ratio_parts(run, redis, "read-cold", floor(REDIS_FLOORS), 1.5),
        )
    )
    goals.append(
        _goal(
            "redis-read-hot-peer",
            "Redis read, hot (the same session read again)",
            f"≤ 0.1{X} the fastest peer's read",
            ratio_parts(run, redis, "read", peer("read"), 0.1),
        )
    )
    for scenario in ("write", "new"):
        parts = []
        for label, name in redis.items():
            trips = run.trips(name, scenario)
            if trips is not None:
                parts.append(Part(label, trips, trips <= 1, f"{label} {trips:.2g}"))
        goals.append(
            _goal(
                f"redis-{scenario}-trips",
                f"Redis {scenario}: round trips (commands the server received per request)",
                "one",
                parts,
            )
        )
        goals.append(
            _goal(
                f"redis-{scenario}-peer",
                f"Redis {scenario}",
                f"≤ 0.5{X} the fastest peer's {scenario}",
                ratio_parts(run, redis, scenario, peer(scenario), 0.5, ref_scenario=scenario),
            )
        )

    # PostgreSQL and SQLite against Django's db backend (both in Django).
    for store, label, read_limit, write_limit in (
        ("postgresql", "PostgreSQL", 0.2, 0.5),
        ("sqlite", "SQLite", 0.1, 0.25),
    ):
        mine = {"django": f"sessionary-django-{store}"}
        django_db = f"django-db-{store}"
        for scenario, limit in (("read", read_limit), ("write", write_limit)):

            def reference(
                _: str, scenario: str = scenario, django_db: str = django_db
            ) -> tuple[str, float] | None:
                value = run.cost(django_db, scenario)
                return None if value is None else (PEER_LABELS[django_db], value)

            goals.append(
                _goal(
                    f"{store}-{scenario}-django-db",
                    f"{label} {scenario} (the Django engine against Django's `db` backend on {label})",
                    f"≤ {limit}{X} Django's `db`",
                    ratio_parts(run, mine, scenario, reference, limit, ref_scenario=scenario),
                )
            )
    postgres = {
        a: f"sessionary-{a}-postgresql" for a in ADAPTERS if f"sessionary-{a}-postgresql" in run.results
    }
    goals.append(
        _goal(
            "postgresql-read-cold-floor",
            "PostgreSQL read, cold, against a bare primary-key `SELECT` (psycopg) in the same app",
            f"≤ 1.5{X} the bare `SELECT`",
            ratio_parts(run, postgres, "read-cold", floor(PG_FLOORS), 1.5),
        )
    )
    # The asyncio path at its floor: within 15 % of the bare asyncio call in the same app.
    asyncio_parts = ratio_parts(
        run,
        {"redis": "sessionary-asgi-redis"},
        "read-cold",
        lambda _: _floor_ref(run, "redis-get-async"),
        1.15,
    ) + ratio_parts(
        run,
        {"postgresql": "sessionary-asgi-postgresql"},
        "read-cold",
        lambda _: _floor_ref(run, "psycopg-select-async"),
        1.15,
    )
    goals.append(
        _goal(
            "asyncio-floor",
            "The asyncio path (ASGI cold read) against the bare asyncio call in the same app",
            f"≤ 1.15{X} the bare call",
            asyncio_parts,
        )
    )
    # SQLite off the event loop, reads no dearer than ~1.2x the calls on the loop.
    goals.append(
        _goal(
            "sqlite-async-read",
            "SQLite in an async app, off the event loop: read against the same store's calls on the loop (`?async=inline`)",
            f"≤ 1.2{X}",
            ratio_parts(
                run,
                {"asgi": "sessionary-asgi-sqlite"},
                "read",
                lambda _: _floor_ref(run, "sessionary-asgi-sqlite-inline"),
                1.2,
            ),
        )
    )
    # Every adapter and store: rolling within 10 % of read; untouched at most 3 µs.
    parts = []
    untouched = []
    for name in stored_names(run):
        short = name.removeprefix("sessionary-")
        rolling, read = run.cost(name, "rolling"), run.cost(name, "read")
        if rolling is not None and read is not None and read > 0:
            excess = rolling / read - 1
            parts.append(Part(short, excess, excess <= 0.10, f"{short} {excess:+.0%}"))
        cost = run.cost(name, "untouched")
        if cost is not None:
            trips = run.trips(name, "untouched") or 0.0
            untouched.append(
                Part(short, cost, cost <= 3 and trips == 0, f"{short} {cost:.1f} µs, {trips:.2g} store calls")
            )
    goals.append(_goal("rolling", "`rolling` on every store and adapter", "within 10 % of `read`", parts))
    goals.append(
        _goal(
            "untouched",
            "The untouched request (a cookie sent, the session never used)",
            "≤ 3 µs, no store call",
            untouched,
        )
    )
    goals += coherence_goals(run.coherence)
    goals.append(scale_goal(run.scale))
    for goal in goals:
        if goal.met is False:
            goal.cause = cause(goal, run)
    return goals


def _floor_ref(run: Run, name: str) -> tuple[str, float] | None:
    value = run.cost(name, "read")
    return None if value is None else (name, value)


def coherence_goals(report: dict[str, Any] | None) -> list[Goal]:
    """The coherence goals, per store: the invalidation delay (measured, bounded), no stale
    read beyond it, and the hit rate on a realistic mix."""
    keys = ("coherence-delay", "coherence-stale", "coherence-hit-rate")
    titles = (
        "Coherence: invalidation delay under load (p50 / p99 / max)",
        "Coherence: requests served stale after a logout, revocation or rotation elsewhere, beyond the delay",
        "Coherence: near-cache hit rate on a realistic mix (many sessions, Zipf-like access)",
    )
    if report and report.get("incoherent_control"):
        return [
            Goal(k, t, target, "not measured: coherence.json is a control run (--incoherent-control)", None)
            for k, t, target in zip(keys, titles, ("measured, max ≤ the bound", "0", "measured"), strict=True)
        ]
    if not report or not report.get("stores"):
        return [
            Goal(k, t, target, "not measured in this run (no coherence.json)", None)
            for k, t, target in zip(keys, titles, ("measured, max ≤ the bound", "0", "measured"), strict=True)
        ]
    bound = float(report.get("bound_ms", 0))
    delay, stale, hits = [], [], []
    for store in report["stores"]:
        name = store["store"]
        d = store.get("delay_ms") or {}
        if d:
            delay.append(
                Part(
                    name,
                    d.get("max"),
                    d.get("max") is not None and d["max"] <= bound,
                    f"{name} {d.get('p50', 0):.2f} / {d.get('p99', 0):.2f} / {d.get('max', 0):.2f} ms "
                    f"over {d.get('samples', 0)} invalidations",
                )
            )
        beyond = store.get("stale_beyond_bound")
        if beyond is not None:
            stale.append(
                Part(
                    name,
                    beyond,
                    beyond == 0,
                    f"{name} {beyond} beyond {bound:g} ms ({store.get('stale_after_change', 0)} within it, "
                    f"of {store.get('reads_after_change', 0)} reads after a change)",
                )
            )
        if store.get("near_cache"):
            rate = store.get("hit_rate")
            hits.append(
                Part(name, rate, rate is not None, f"{name} {rate:.1%}" if rate is not None else name)
            )
        else:
            hits.append(Part(name, None, False, f"{name}: no near-cache on this store"))
    return [
        _goal(keys[0], titles[0], f"measured, max ≤ {bound:g} ms (the bound)", delay),
        _goal(keys[1], titles[1], "0", stale),
        _goal(keys[2], titles[2], "measured", hits),
    ]


def scale_goal(report: dict[str, Any] | None) -> Goal:
    title = "Flat from 1k to 1M sessions on every store"
    target = "each request's median within the flat ratio of a 1k store's, in the same batches"
    if not report or not report.get("stores"):
        return Goal("scale", title, target, "not measured in this run (no scale.json)", None)
    sizes = report.get("sizes", [])
    flat = report.get("settings", {}).get("flat", 1.2)
    parts = []
    for result in report["stores"]:
        entries = result.get("requests", [])
        if not entries:
            continue
        worst = max(entries, key=lambda e: e["ratio"])
        ok = all(e["flat"] for e in entries)
        parts.append(
            Part(
                result["store"],
                worst["ratio"],
                ok,
                f"{result['store']} highest ratio {worst['ratio']:.2f} ({worst['op']} at {worst['size']:,})",
            )
        )
    goal = _goal("scale", title, f"{target} (≤ {flat:.2f})", parts)
    if sizes and (min(sizes) > 1000 or max(sizes) < 1_000_000):
        goal.met = None
        goal.measured += f" (sizes {min(sizes):,} to {max(sizes):,} only: not the 1k-to-1M range)"
    return goal


# --- causes: worded from what the run measured ------------------------------------------------


def _failing(goal: Goal) -> list[str]:
    return [p["label"] for p in goal.parts if p["ok"] is False]


def cause(goal: Goal, run: Run) -> str:
    """Why a goal is not met, from this run's own counts where they tell."""
    explain = CAUSES.get(goal.key)
    text = explain(goal, run) if explain else ""
    return text or "the measured figure is over the target (see the tables for its parts)"


def _hot_read_cause(goal: Goal, run: Run) -> str:
    trips = {label: run.trips(f"sessionary-{label}-redis", "read") for label in _failing(goal)}
    going = [f"{label} {t:.2g}" for label, t in trips.items() if t]
    if going:
        return (
            "a hot read still goes to the store (round trips per hot read: " + ", ".join(going) + "): "
            "no near-cache answers it in this build"
        )
    return f"the hot read makes no round trip, yet its in-process cost is over 0.1{X} the peer's"


def _trips_cause(scenario: str) -> Callable[[Goal, Run], str]:
    def explain(goal: Goal, run: Run) -> str:
        details = []
        for label in _failing(goal):
            figures = run.results.get(f"sessionary-{label}-redis", {}).get(scenario, {})
            detail = (figures.get("ops") or {}).get("detail", "")
            details.append(f"{label}: {detail}" if detail else label)
        return f"a {scenario} makes more than one round trip (" + "; ".join(details) + ")"

    return explain


def _round_trip_cause(scenario: str, store: str = "redis") -> Callable[[Goal, Run], str]:
    def explain(goal: Goal, run: Run) -> str:
        over, same = [], []
        for part in goal.parts:
            if part["ok"] is not False:
                continue
            label = part["label"]
            mine = run.trips(f"sessionary-{label}-{store}", scenario)
            theirs = run.trips(part["ref"], "read" if scenario == "read-cold" else scenario)
            if mine is None or theirs is None:
                continue
            if mine > theirs + 0.05:
                over.append(f"{label} {mine:.2g} round trips against {theirs:.2g}")
            else:
                same.append(f"{label} {mine:.2g} against {theirs:.2g}")
        text = []
        if over:
            text.append(f"more store round trips than the reference ({', '.join(over)})")
        if same:
            text.append(
                f"no more round trips than the reference ({', '.join(same)}): the work around the "
                "store call in the process (the session cycle, the framework's plumbing) is over the target"
            )
        return "; ".join(text)

    return explain


def _coherence_cause(goal: Goal, run: Run) -> str:
    stores = (run.coherence or {}).get("stores", [])
    if any(not s.get("near_cache") for s in stores):
        missing = [s["store"] for s in stores if not s.get("near_cache")]
        return f"no near-cache on {', '.join(missing)} in this build: every read goes to the store"
    return ""


def _stale_cause(goal: Goal, run: Run) -> str:
    return "reads served a session after another process had ended it, later than the bound (a coherence bug)"


def _untouched_cause(goal: Goal, run: Run) -> str:
    calls = [p for p in goal.parts if p["ok"] is False and "0 store calls" not in p["text"]]
    if calls:
        return "an untouched request called the store"
    return "no store call, and the in-process cost (reading the cookie header, the lazy session, the response check) is over 3 µs"


def _rolling_cause(goal: Goal, run: Run) -> str:
    writers = []
    for label in _failing(goal):
        trips_rolling = run.trips(f"sessionary-{label}", "rolling")
        trips_read = run.trips(f"sessionary-{label}", "read")
        if trips_rolling is not None and trips_read is not None and trips_rolling > trips_read:
            writers.append(f"{label} ({trips_rolling:.2g} against {trips_read:.2g} round trips)")
    if writers:
        return "a rolling read makes more store calls than a read: " + ", ".join(writers)
    return "the same store calls as a read; the extra is in-process work of the rolling path (the save decision, the cookie set on every response)"


def _scale_cause(goal: Goal, run: Run) -> str:
    return "a store's request cost grows with its size at: " + ", ".join(_failing(goal))


def _asyncio_cause(goal: Goal, run: Run) -> str:
    over = []
    for part in goal.parts:
        if part["ok"] is False:
            name = f"sessionary-asgi-{part['label']}"
            mine, floor = run.trips(name, "read-cold"), run.trips(part["ref"], "read")
            if mine is not None and floor is not None:
                over.append(f"{part['label']} {mine:.2g} round trips against the bare call's {floor:.2g}")
    if not over:
        return ""
    return (
        "as many round trips as the bare call ("
        + ", ".join(over)
        + "): the excess is the async path's work in the process around the store call"
    )


def _sqlite_thread_cause(goal: Goal, run: Run) -> str:
    return (
        "the same statements as on the loop; each call hops to the store's worker thread "
        "and back (two thread wake-ups), which costs more the busier the machine"
    )


CAUSES: dict[str, Callable[[Goal, Run], str]] = {
    "asyncio-floor": _asyncio_cause,
    "sqlite-async-read": _sqlite_thread_cause,
    "redis-read-cold-peer": _round_trip_cause("read-cold"),
    "redis-read-cold-floor": _round_trip_cause("read-cold"),
    "redis-read-hot-peer": _hot_read_cause,
    "redis-write-trips": _trips_cause("write"),
    "redis-new-trips": _trips_cause("new"),
    "redis-write-peer": _round_trip_cause("write"),
    "redis-new-peer": _round_trip_cause("new"),
    "postgresql-read-django-db": _round_trip_cause("read", "postgresql"),
    "postgresql-write-django-db": _round_trip_cause("write", "postgresql"),
    "postgresql-read-cold-floor": _round_trip_cause("read-cold", "postgresql"),
    "sqlite-read-django-db": _round_trip_cause("read", "sqlite"),
    "sqlite-write-django-db": _round_trip_cause("write", "sqlite"),
    "rolling": _rolling_cause,
    "untouched": _untouched_cause,
    "coherence-hit-rate": _coherence_cause,
    "coherence-stale": _stale_cause,
    "scale": _scale_cause,
}


# --- output ------------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render(goals: list[Goal], run: Run) -> str:
    met = sum(1 for g in goals if g.met is True)
    unmet = [g for g in goals if g.met is False]
    unmeasured = [g for g in goals if g.met is None]
    when = run.sessions.get("finished", "")
    lines = [
        f"_Written by `bench/goals.py` from the run of {when} (`bench/results/`); do not edit by hand._",
        "",
        f"{met} of {len(goals)} goals met, {len(unmet)} not met, {len(unmeasured)} not measured. "
        + durations(run)
        + " Costs are session-layer costs in µs; [a to b] is a cost's interquartile range between "
        "the run's rounds (what it moves by on this machine).",
        "",
        "| goal | target | measured | verdict |",
        "|---|---|---|---|",
    ]
    for goal in goals:
        verdict = {True: "met", False: "**not met**", None: "not measured"}[goal.met]
        lines.append(f"| {_cell(goal.goal)} | {_cell(goal.target)} | {_cell(goal.measured)} | {verdict} |")
    if unmet:
        lines += ["", "Not met, with the measured figure and its cause:", ""]
        for goal in unmet:
            lines.append(f"- **{goal.goal}** ({goal.target}): {goal.measured}. Cause: {goal.cause}.")
    if unmeasured:
        lines += ["", "Not measured: " + "; ".join(f"{g.goal} ({g.measured})" for g in unmeasured) + "."]
    return "\n".join(lines) + "\n"


def durations(run: Run) -> str:
    """How long the run's parts took, as they recorded it."""
    parts = []
    if "duration_s" in run.sessions:
        parts.append(f"sessions {run.sessions['duration_s'] / 60:.1f} min")
    if run.scale and "seconds" in run.scale:
        parts.append(f"scale {run.scale['seconds'] / 60:.1f} min")
    if run.coherence and "duration_s" in run.coherence:
        parts.append(f"coherence {run.coherence['duration_s'] / 60:.1f} min")
    total = f"The run took {run.total_seconds / 60:.1f} minutes" if run.total_seconds else "Durations"
    return f"{total} ({', '.join(parts)})." if parts else ""


README_ROWS = (
    ("Django engine on SQLite, vs Django's `db` backend", "sessionary-django-sqlite", "django-db-sqlite"),
    (
        "Django engine on PostgreSQL, vs Django's `db` backend",
        "sessionary-django-postgresql",
        "django-db-postgresql",
    ),
    ("Django engine on Redis, vs Django's `cache` backend", "sessionary-django-redis", "django-cache-redis"),
    ("ASGI on Redis, vs starsessions", "sessionary-asgi-redis", "starsessions-redis"),
    ("Flask on Redis, vs Flask-Session", "sessionary-flask-redis", "flask-session-redis"),
)


def readme_table(goals: list[Goal], run: Run) -> str:
    """The README's table: sessionary's session-layer cost over the peer's, from the run."""
    lines = [
        "| | read (cold) | read (hot) | write | new session | rolling |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, mine, theirs in README_ROWS:
        if mine not in run.results or theirs not in run.results:
            continue
        cells = []
        for scenario, peer_scenario in (
            ("read-cold", "read"),
            ("read", "read"),
            ("write", "write"),
            ("new", "new"),
            ("rolling", "rolling"),
        ):
            a, b = run.cost(mine, scenario), run.cost(theirs, peer_scenario)
            cells.append("—" if a is None or b is None or b <= 0 else f"{a / b:.2f}{X}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    met = sum(1 for g in goals if g.met is True)
    lines += [
        "",
        f"_From the run of {run.sessions.get('finished', '?')} (`scripts/bench --update-docs`): "
        f"{met} of {len(goals)} performance goals met; each goal, its figure and, where not met, "
        "its cause are in [docs/performance.md](docs/performance.md#goals)._",
    ]
    return "\n".join(lines) + "\n"


def replace_between(path: Path, begin: str, end: str, body: str) -> None:
    text = path.read_text()
    if begin not in text or end not in text:
        raise SystemExit(f"{path}: the markers {begin} and {end} are missing")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{begin}\n{body}{end}{tail}")


def load(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "performance.md")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument(
        "--update-docs", action="store_true", help="rewrite the goals section and the README table"
    )
    parser.add_argument(
        "--total-seconds", type=float, help="how long the whole run took (from scripts/bench)"
    )
    args = parser.parse_args(argv)
    sessions = load(args.results / "sessions.json")
    if sessions is None:
        parser.error(f"no {args.results / 'sessions.json'}: run bench/sessions.py first")
    run = Run(sessions, load(args.results / "scale.json"), load(args.results / "coherence.json"))
    run.total_seconds = args.total_seconds
    goals = judge(run)
    text = render(goals, run)
    (args.results / "goals.json").write_text(json.dumps([asdict(g) for g in goals], indent=1) + "\n")
    (args.results / "goals.md").write_text("# Goals\n\n" + text)
    if args.update_docs:
        replace_between(args.doc, GOALS_BEGIN, GOALS_END, text)
        replace_between(args.readme, TABLE_BEGIN, TABLE_END, readme_table(goals, run))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
