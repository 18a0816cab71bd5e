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
from session_contenders import REDIS_SCRIPTS, REDIS_WRITES, SCENARIOS

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
            if contender["library"] == "redis-py":
                value = figures["median_us"]
            else:
                value = figures["median_us"] - figures["baseline_median_us"]
            figures["cost_us"] = value
            figures["ops"] = per_request(figures["counts"], contender["store"])
            cost.setdefault(name, {})[scenario] = value

    peers = {
        name: c
        for name, c in contenders.items()
        if c["library"] not in ("sessionary", "redis-py") and name in cost
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
                row[scenario] = mine / theirs if mine is not None and theirs and theirs > 0 else None
            ratios.append(row)

    targets = _targets(results, contenders, cost, ours, peers)
    return {"costs": cost, "ratios": ratios, "targets": targets, "headline": _headline(cost, contenders)}


def _ops(results: dict[str, Any], name: str, scenario: str) -> dict[str, Any]:
    ops: dict[str, Any] = results[name][scenario]["ops"]
    return ops


def _target(name: str, parts: list[tuple[str, bool]], missing: str | None = None) -> dict[str, Any]:
    if missing or not parts:
        return {"target": name, "measured": missing or "no contender measured", "met": None}
    return {"target": name, "measured": "; ".join(p for p, _ in parts), "met": all(ok for _, ok in parts)}


def _framework(name: str) -> str:
    return name.split("-")[1]


def _targets(
    results: dict[str, Any],
    contenders: dict[str, Any],
    cost: dict[str, dict[str, float]],
    ours: dict[str, Any],
    peers: dict[str, Any],
) -> list[dict[str, Any]]:
    targets = []
    redis_ours = [n for n, c in ours.items() if c["store"] == "redis"]
    redis_peers = [n for n, c in peers.items() if c["store"] == "redis"]

    def fastest(scenario: str) -> tuple[str, float] | None:
        measured = [(cost[p][scenario], p) for p in redis_peers if scenario in cost[p]]
        if not measured:
            return None
        value, peer = min(measured)
        return peer, value

    # Redis read: one round trip, <= 0.6x the fastest peer, <= 1.5x a bare GET.
    parts = [
        (f"{_framework(n)} {_ops(results, n, 'read')['calls']:.2f}", _ops(results, n, "read")["calls"] == 1)
        for n in redis_ours
    ]
    targets.append(_target("Redis `read`: one round trip (commands received per request)", parts))
    best = fastest("read")
    if best:
        peer, value = best
        parts = [
            (f"{_framework(n)} {cost[n]['read'] / value:.2f}{X}", cost[n]["read"] <= 0.6 * value)
            for n in redis_ours
        ]
        targets.append(
            _target(f"Redis `read` ≤ 0.6{X} the fastest peer ({LABELS[peer]}, {value:.1f} µs)", parts)
        )
    else:
        targets.append(_target(f"Redis `read` ≤ 0.6{X} the fastest peer", [], "no Redis peer measured"))
    parts = []
    for n in redis_ours:
        bare = "redis-get-async" if contenders[n]["framework"] == "asgi" else "redis-get-sync"
        if bare in cost:
            ratio = cost[n]["read"] / cost[bare]["read"]
            parts.append(
                (
                    f"{_framework(n)} {ratio:.2f}{X} ({bare.split('-')[-1]} GET {cost[bare]['read']:.1f} µs)",
                    ratio <= 1.5,
                )
            )
    targets.append(_target(f"Redis `read` within 1.5{X} of a bare redis-py GET", parts))

    for scenario in ("write", "new"):
        best = fastest(scenario)
        if best:
            peer, value = best
            parts = [
                (f"{_framework(n)} {cost[n][scenario] / value:.2f}{X}", cost[n][scenario] <= 0.5 * value)
                for n in redis_ours
            ]
            targets.append(
                _target(
                    f"Redis `{scenario}` ≤ 0.5{X} the fastest peer ({LABELS[peer]}, {value:.1f} µs)", parts
                )
            )
        parts = [
            (
                f"{_framework(n)} {_ops(results, n, scenario)['calls']:.2f}",
                _ops(results, n, scenario)["calls"] <= 1,
            )
            for n in redis_ours
        ]
        targets.append(_target(f"Redis `{scenario}`: one round trip (commands received per request)", parts))

    stored = [n for n, c in ours.items() if c["store"] != "cookie"]
    parts = []
    for n in ours:
        if "rolling" in cost[n] and "read" in cost[n]:
            rolling, read = cost[n]["rolling"], cost[n]["read"]
            parts.append(
                (f"{n.removeprefix('sessionary-')} {rolling / read - 1:+.0%}", rolling <= 1.1 * read)
            )
    targets.append(_target("`rolling`: session-layer cost within 10 % of `read`'s", parts))
    parts = []
    for n in stored:
        writes = _ops(results, n, "rolling")["writes_total"]
        requests = results[n]["rolling"]["counts"]["requests"]
        parts.append(
            (f"{n.removeprefix('sessionary-')} {writes} in {requests}", writes is not None and writes <= 1)
        )
    targets.append(
        _target("`rolling`: at most one store write per throttle window (writes in a counted batch)", parts)
    )

    parts = []
    for n in ours:
        ops = _ops(results, n, "untouched")
        calls = ops["calls"] or 0
        parts.append(
            (
                f"{n.removeprefix('sessionary-')} {calls:.2f} ops, {cost[n]['untouched']:.1f} µs",
                calls == 0 and cost[n]["untouched"] < 3,
            )
        )
    targets.append(_target("`untouched`: zero store operations and under 3 µs", parts))

    for store, label, read_limit, write_limit in (
        ("sqlite", "SQLite", 0.1, 0.25),
        ("postgresql", "PostgreSQL", 0.2, 0.5),
    ):
        mine, theirs = f"sessionary-django-{store}", f"django-db-{store}"
        for scenario, limit in (("read", read_limit), ("write", write_limit)):
            name = f"{label} `{scenario}` ≤ {limit}{X} Django's `db` backend on {label} (both in Django)"
            if mine in cost and theirs in cost and cost[theirs][scenario] > 0:
                ratio = cost[mine][scenario] / cost[theirs][scenario]
                measured = f"{ratio:.2f}{X} ({cost[mine][scenario]:.1f} vs {cost[theirs][scenario]:.1f} µs)"
                targets.append(_target(name, [(measured, ratio <= limit)]))
            else:
                targets.append(_target(name, [], "not measured in this run"))
    return targets


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
        "Reproduce with `scripts/bench` (installs the `bench` extra, then runs "
        "`bench/sessions.py --update-docs`), or `.venv/bin/python bench/sessions.py` for the "
        "figures alone. This run: "
        f"`{report['command']}`, {settings['rounds']} interleaved rounds of "
        f"{settings['requests_per_round']} requests per contender and scenario, store operations "
        f"counted over {settings['count_requests']} more.",
        "",
        "**Headline**",
        "",
        *[f"- {line}" for line in report["headline"]],
        "",
        "**Targets**",
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
    ]
    for target in report["targets"]:
        verdict = {True: "met", False: "**not met**", None: "not measured"}[target["met"]]
        lines.append(f"| {target['target']} | {target['measured']} | {verdict} |")
    lines += [
        "",
        "**Session-layer cost per request, µs** (the request's median minus the median of the "
        "same request to the same app without sessions, in the same process; for the bare "
        "GETs, their own median)",
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
            "| contender | median µs | p99 µs | baseline median µs | cost µs | store calls / request | reads | writes | counted on the store |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|",
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
            colours.append({"sessionary": "#1f6fb4", "redis-py": "#9aa5b1"}.get(libraries[name], "#e07b39"))
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
        "grey: a bare redis-py GET",
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
