"""What ``bench/sessions.py`` makes of its measurements: the session layer's cost, the
ratios to the peers, the targets' verdicts, and the JSON, Markdown, plot and doc section."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import sqlite3
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from machine import cpu_model, memory_gib
from session_contenders import FLOORS, REDIS_SCRIPTS, REDIS_WRITES, SCENARIOS

X = "\N{MULTIPLICATION SIGN}"
BEGIN, END = "<!-- sessions:begin -->", "<!-- sessions:end -->"
LABELS = {
    "starsessions-redis": "starsessions",
    "flask-session-redis": "Flask-Session",
    "django-cache-redis": "Django cache",
    "django-db-sqlite": "Django db (SQLite)",
    "django-db-postgresql": "Django db (PostgreSQL)",
    "django-signed-cookies": "Django signed_cookies",
    "starlette-cookie": "Starlette SessionMiddleware",
}
LIBRARIES = [
    "sessionary",
    "starlette",
    "flask",
    "flask-session",
    "starsessions",
    "django",
    "redis",
    "psycopg",
    "psycopg-pool",
    "itsdangerous",
    "werkzeug",
    "matplotlib",
]


# --- store operations per request ------------------------------------------------------------


def per_request(counts: dict[str, Any], store: str) -> dict[str, Any]:
    """Store calls, reads and writes per request, from a counted batch's raw counts."""
    n = counts.get("requests") or 1
    if store == "redis" and "client" in counts:
        client, scripted = counts["client"], counts["scripted"]
        reads = sum(v for k, v in {**client}.items() if k not in REDIS_WRITES and k not in REDIS_SCRIPTS)
        reads += sum(v for k, v in scripted.items() if k not in REDIS_WRITES)
        writes = sum(v for k, v in client.items() if k in REDIS_WRITES)
        writes += sum(v for k, v in scripted.items() if k in REDIS_WRITES)
        detail = ", ".join(f"{k} {v / n:.2g}" for k, v in sorted(client.items()))
        if scripted:
            detail += (
                " (in scripts: " + ", ".join(f"{k} {v / n:.2g}" for k, v in sorted(scripted.items())) + ")"
            )
        return {
            "calls": sum(client.values()) / n,
            "reads": reads / n,
            "writes": writes / n,
            "writes_total": writes,
            "detail": detail,
        }
    if store == "sqlite" and "statements" in counts:
        statements = counts["statements"]
        return {
            "calls": sum(statements.values()) / n,
            "reads": statements.get("read", 0) / n,
            "writes": statements.get("write", 0) / n,
            "writes_total": statements.get("write", 0),
            "detail": ", ".join(f"{k} {v / n:.2g}" for k, v in sorted(statements.items())),
        }
    if store == "postgresql" and "transactions" in counts:
        return {
            "calls": counts["transactions"] / n,
            "reads": counts["scans"] / n,
            "writes": counts["rows_written"] / n,
            "writes_total": counts["rows_written"],
            "detail": f"transactions {counts['transactions'] / n:.2g}, table scans {counts['scans'] / n:.2g}, rows written {counts['rows_written'] / n:.2g}",
        }
    if store == "cookie":
        return {"calls": 0.0, "reads": 0.0, "writes": 0.0, "writes_total": 0, "detail": "in the cookie"}
    return {"calls": None, "reads": None, "writes": None, "writes_total": None, "detail": ""}


# --- evaluation --------------------------------------------------------------------------------


def evaluate(report: dict[str, Any]) -> dict[str, Any]:
    """Costs, ratios, the targets' verdicts and the headline, all from this run's figures."""
    results = report["results"]
    contenders = {c["name"]: c for c in report["contenders"]}
    cost: dict[str, dict[str, float]] = {}
    for name, contender in contenders.items():
        for scenario, figures in results.get(name, {}).items():
            value = figures["median_us"] - figures["baseline_median_us"]
            figures["cost_us"] = value
            figures["ops"] = per_request(figures["counts"], contender["store"])
            cost.setdefault(name, {})[scenario] = value

    peers = {
        name: c
        for name, c in contenders.items()
        if c["library"] != "sessionary" and c["library"] not in FLOORS and name in cost
    }
    ours = {name: c for name, c in contenders.items() if c["library"] == "sessionary" and name in cost}
    ratios = []
    for name, contender in ours.items():
        for peer, other in peers.items():
            if other["store"] != contender["store"]:
                continue
            row: dict[str, Any] = {"sessionary": name, "peer": peer}
            for scenario in SCENARIOS:
                mine, theirs = cost[name].get(scenario), cost[peer].get(scenario)
                if scenario == "read-cold":  # a peer keeps no cache: its read is cold
                    theirs = cost[peer].get("read")
                row[scenario] = mine / theirs if mine is not None and theirs and theirs > 0 else None
            ratios.append(row)

    return {"costs": cost, "ratios": ratios, "headline": _headline(cost, contenders)}


def _headline(cost: dict[str, dict[str, float]], contenders: dict[str, Any]) -> list[str]:
    lines = []
    pairs = (
        ("Redis", "sessionary-asgi-redis", "starsessions-redis", "ASGI"),
        ("Redis", "sessionary-flask-redis", "flask-session-redis", "Flask"),
        ("Redis", "sessionary-django-redis", "django-cache-redis", "Django"),
        ("SQLite", "sessionary-django-sqlite", "django-db-sqlite", "Django"),
        ("PostgreSQL", "sessionary-django-postgresql", "django-db-postgresql", "Django"),
    )
    for store, mine, theirs, framework in pairs:
        if mine in cost and theirs in cost:
            figures = []
            for scenario in ("read", "write", "new"):
                if cost[theirs][scenario] > 0:
                    figures.append(f"`{scenario}` {cost[mine][scenario] / cost[theirs][scenario]:.2f}{X}")
            lines.append(
                f"{store}, in {framework}: sessionary's session-layer cost divided by {LABELS[theirs]}'s: "
                + ", ".join(figures)
                + "."
            )
    untouched = [
        cost[n]["untouched"] for n, c in contenders.items() if c["library"] == "sessionary" and n in cost
    ]
    if untouched:
        lines.append(
            f"A request that never uses the session: {min(untouched):.1f} to {max(untouched):.1f} µs of session-layer cost, no store call."
        )
    return lines


# --- the machine ---------------------------------------------------------------------------


def machine_info(redis_url: str, postgres_url: str, available: dict[str, str | None]) -> dict[str, Any]:
    info: dict[str, Any] = {}
    info["cpu"] = cpu_model()
    gib = memory_gib()
    info["ram_gib"] = None if gib is None else round(gib, 1)
    info["cores"] = os.cpu_count()
    os_name = platform.platform()
    try:
        release = dict(
            line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line
        )
        os_name = f"{release.get('PRETTY_NAME', '').strip(chr(34))}, Linux {platform.release()}"
    except OSError:
        pass
    info["os"] = os_name
    info["python"] = sys.version.split()[0]
    info["sqlite"] = sqlite3.sqlite_version
    info["load_average"] = [round(v, 2) for v in os.getloadavg()]
    if available.get("redis") is None:
        import redis

        client = redis.Redis.from_url(redis_url)
        info["redis"] = client.info("server")["redis_version"]
        client.close()
    if available.get("postgresql") is None:
        import psycopg

        with psycopg.connect(postgres_url) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            info["postgresql"] = row[0] if row else None
    versions = {}
    for name in LIBRARIES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    info["libraries"] = versions
    return info


# --- output --------------------------------------------------------------------------------


def _us(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}{X}"


def _spread(values: list[float] | None) -> str:
    return "—" if not values else f"{values[0]:,.1f} to {values[1]:,.1f}"


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.2g}"


def render(report: dict[str, Any], image: str) -> str:
    results = report["results"]
    contenders = report["contenders"]
    machine = report["machine"]
    settings = report["settings"]
    when = report.get("finished", "")
    lines = [
        f"_Written by `bench/sessions.py` ({when}, {report['duration_s']} s); do not edit by hand._",
        "",
        "Reproduce with `scripts/bench --update-docs` (installs the `bench` extra, then runs "
        "`bench/sessions.py`, `bench/scale.py`, `bench/coherence.py` and `bench/goals.py`), or "
        "`.venv/bin/python bench/sessions.py` for these figures alone. This run: "
        f"`{report['command']}`, {settings['rounds']} interleaved rounds of "
        f"{settings['requests_per_round']} requests per contender and scenario, store operations "
        f"counted over {settings['count_requests']} more.",
        "",
        "**Headline**",
        "",
        *[f"- {line}" for line in report["headline"]],
        "",
        "The goals are judged from this run (and the scale and coherence runs) in "
        "[the goals section](#goals).",
        "",
        "**Session-layer cost per request, µs** (the request's median minus the median of the "
        "same request to the same app without sessions, in the same process; for the floors, "
        "the same app with one bare store call against it without)",
        "",
        "| contender | " + " | ".join(SCENARIOS) + " |",
        "|---|" + "---:|" * len(SCENARIOS),
    ]
    for contender in contenders:
        name = contender["name"]
        if name not in results:
            continue
        cells = [_us(results[name][s].get("cost_us")) if s in results[name] else "" for s in SCENARIOS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "**Store round trips per request** (store calls counted on the store's side over a "
        "separate batch: Redis commands received, PostgreSQL transactions, SQLite statements; "
        "0 for signed cookies)",
        "",
        "| contender | " + " | ".join(SCENARIOS) + " |",
        "|---|" + "---:|" * len(SCENARIOS),
    ]
    for contender in contenders:
        name = contender["name"]
        if name not in results:
            continue
        cells = [_num(results[name][s]["ops"]["calls"]) if s in results[name] else "" for s in SCENARIOS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "**sessionary's cost divided by each peer's**, on the same store (below 1: sessionary is cheaper)",
        "",
        "| sessionary | peer | " + " | ".join(SCENARIOS) + " |",
        "|---|---|" + "---:|" * len(SCENARIOS),
    ]
    for row in report["ratios"]:
        lines.append(
            f"| {row['sessionary']} | {row['peer']} | " + " | ".join(_ratio(row[s]) for s in SCENARIOS) + " |"
        )
    lines += ["", f"![Session-layer cost per request, by scenario]({image})", ""]
    for scenario in SCENARIOS:
        lines += [
            f"<details><summary><code>{scenario}</code>: medians, p99, store operations</summary>",
            "",
            "| contender | median µs | p99 µs | baseline median µs | cost µs | cost between rounds (IQR) µs | store calls / request | reads | writes | counted on the store |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for contender in contenders:
            name = contender["name"]
            if scenario not in results.get(name, {}):
                continue
            figures = results[name][scenario]
            ops = figures.get("ops") or per_request(figures["counts"], contender["store"])
            lines.append(
                f"| {name} | {_us(figures['median_us'])} | {_us(figures['p99_us'])} "
                f"| {_us(figures.get('baseline_median_us'))} | {_us(figures.get('cost_us'))} "
                f"| {_spread(figures.get('cost_spread_us'))} "
                f"| {_num(ops['calls'])} | {_num(ops['reads'])} | {_num(ops['writes'])} | {ops['detail']} |"
            )
        lines += ["", "</details>", ""]
    libraries = ", ".join(f"{k} {v}" for k, v in machine.get("libraries", {}).items())
    lines += [
        "**Machine**",
        "",
        f"- CPU: {machine.get('cpu')}, {machine.get('cores')} cores, {machine.get('ram_gib')} GiB RAM",
        f"- OS: {machine.get('os')}; load average at the end of the run {machine.get('load_average')}",
        f"- Python {machine.get('python')}, SQLite {machine.get('sqlite')}, Redis {machine.get('redis', '—')}, "
        f"PostgreSQL {machine.get('postgresql', '—')} (default settings, loopback TCP)",
        f"- {libraries}",
    ]
    for item in report.get("unsupported", []):
        lines += ["", f"Not measured: {item['contender']} `{item['scenario']}` ({item['reason']})."]
    if report["skipped"]:
        lines += ["", "Skipped: " + "; ".join(f"{k} ({v})" for k, v in report["skipped"].items())]
    return "\n".join(lines) + "\n"


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = report["results"]
    names = [c["name"] for c in report["contenders"] if c["name"] in results]
    libraries = {c["name"]: c["library"] for c in report["contenders"]}
    from matplotlib.ticker import NullFormatter

    figure, axes = plt.subplots(
        1, len(SCENARIOS), figsize=(18, 0.38 * len(names) + 2), sharey=True, sharex=True
    )
    costs = [f.get("cost_us") for n in names for f in results[n].values()]
    highest = max([c for c in costs if c is not None] + [10.0])
    for axis, scenario in zip(axes, SCENARIOS, strict=True):
        values, colours = [], []
        for name in names:
            value = results[name].get(scenario, {}).get("cost_us")
            values.append(max(value, 0.5) if value is not None else 0)
            colours.append(
                "#1f6fb4"
                if libraries[name] == "sessionary"
                else "#9aa5b1"
                if libraries[name] in FLOORS
                else "#e07b39"
            )
        positions = range(len(names))
        axis.barh(positions, values, color=colours)
        axis.set_xscale("log")
        axis.set_xlim(0.5, highest * 4)
        axis.xaxis.set_minor_formatter(NullFormatter())
        axis.set_title(scenario)
        axis.set_xlabel("µs per request (log)")
        axis.grid(axis="x", which="major", alpha=0.3)
        for y, (name, value) in enumerate(zip(names, values, strict=True)):
            raw = results[name].get(scenario, {}).get("cost_us")
            if value and raw is not None:
                axis.text(
                    value * 1.08, y, f"{raw:.0f}" if raw >= 10 else f"{raw:.1f}", va="center", fontsize=7
                )
    axes[0].set_yticks(range(len(names)))
    axes[0].set_yticklabels(names, fontsize=8)
    axes[0].invert_yaxis()
    figure.suptitle(
        "Session-layer cost per request, µs (median minus the same app's without sessions; "
        "log scale, costs under 0.5 µs drawn at 0.5); blue: sessionary, orange: the peers, "
        "grey: one bare store call (redis-py GET, psycopg SELECT)",
        fontsize=10,
    )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_outputs(report: dict[str, Any], results_dir: Path, image: Path, doc: Path | None) -> str:
    report["finished"] = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "sessions.json").write_text(json.dumps(report, indent=1, sort_keys=False) + "\n")
    plot(report, image)
    markdown = render(report, os.path.relpath(image, results_dir))
    (results_dir / "sessions.md").write_text(markdown)
    if doc is not None:
        section = render(report, os.path.relpath(image, doc.parent))
        text = doc.read_text()
        if BEGIN not in text or END not in text:
            raise SystemExit(f"{doc}: the markers {BEGIN} and {END} are missing")
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        doc.write_text(f"{head}{BEGIN}\n{section}{END}{tail}")
    return markdown
