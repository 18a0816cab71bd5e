"""Run each framework's own session tests against sessionary (docs/frameworks.md).

    scripts/framework-suites                  # every suite, SQLite and Redis
    scripts/framework-suites starlette flask  # some suites
    scripts/framework-suites --store sqlite

The test files come from the released sdist of the version installed here (``pip
download --no-binary :all: --no-deps NAME==VERSION``, kept in ``.cache/framework-suites``),
so only PyPI is needed; a project whose sdist ships no tests has them vendored under
tests/integrations/upstream/NAME/ (``Suite.vendored`` names the version; tests of an
earlier version run only while the modules they exercise are unchanged, ``Suite.unchanged``,
and the run's label says which version the copy is from). ``adapters.py``
maps each framework's constructor onto sessionary;
``expected.py`` lists the tests that fail on purpose, with the reason. The run fails when
a test fails that is not listed there, and when a listed one passes (update the list and
docs/frameworks.md together).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tarfile
import tempfile
from importlib.metadata import distribution, version
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CACHE = ROOT / ".cache" / "framework-suites"
sys.path.insert(0, str(HERE))

from expected import EXPECTED_FAILURES, SUITES, Suite  # noqa: E402

REDIS_URL = os.environ.get("SESSIONARY_SUITE_REDIS", "redis://127.0.0.1:6379/0")


def sdist(suite: Suite) -> Path:
    """The sdist of the installed version, downloaded once."""
    wanted = f"{suite.distribution}=={version(suite.distribution)}"
    folder = CACHE / wanted
    found = sorted(folder.glob("*.tar.gz")) if folder.exists() else []
    if not found:
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-binary",
                ":all:",
                "--no-deps",
                "--quiet",
                wanted,
                "-d",
                str(folder),
            ],
            check=True,
        )
        found = sorted(folder.glob("*.tar.gz"))
    if not found:
        raise SystemExit(f"pip download {wanted} gave no sdist")
    return found[0]


VENDORED = ROOT / "tests" / "integrations" / "upstream"


def extract(suite: Suite, into: Path) -> Path:
    """The suite's test files (and their support files) from the sdist, or from the
    vendored copy, under ``into``."""
    if suite.vendored is not None:
        installed = version(suite.distribution)
        if installed != suite.vendored:
            changed = changed_since_vendored(suite)
            if changed is None or changed:
                what = "" if changed is None else f" ({', '.join(changed)} changed)"
                raise SystemExit(
                    f"{suite.name}: the vendored tests are of {suite.vendored}, {installed} is "
                    f"installed{what}: vendor that version's tests (tests/integrations/upstream/README.md)"
                )
        for name in suite.files:
            target = into / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(VENDORED / suite.name / name, target)
        return into
    with tarfile.open(sdist(suite)) as archive:
        members = archive.getmembers()
        top = members[0].name.split("/")[0]
        picked = []
        for member in members:
            relative = member.name[len(top) + 1 :]
            if relative in suite.files and member.isfile():
                member.name = relative
                picked.append(member)
        missing = set(suite.files) - {m.name for m in picked}
        if missing:
            raise SystemExit(f"{suite.name}: the sdist lacks {sorted(missing)}")
        archive.extractall(into, members=picked, filter="data")
    return into


def changed_since_vendored(suite: Suite) -> list[str] | None:
    """The installed modules of ``suite.unchanged`` that differ from the vendored version's
    (SOURCES.sha256 beside the copy), new files included; None when the suite has none
    to compare."""
    if not suite.unchanged:
        return None
    recorded = {}
    for line in (VENDORED / suite.name / "SOURCES.sha256").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        recorded[name] = digest
    site = Path(distribution(suite.distribution).locate_file(""))
    installed = set()
    for entry in suite.unchanged:
        path = site / entry
        installed |= (
            {p.relative_to(site).as_posix() for p in path.rglob("*.py")} if path.is_dir() else {entry}
        )
    changed = sorted(installed - set(recorded))
    for name in sorted(installed & set(recorded)):
        file = site / name
        if not file.is_file() or hashlib.sha256(file.read_bytes()).hexdigest() != recorded[name]:
            changed.append(name)
    return changed


def extra_site(suite: Suite) -> list[str]:
    """A folder holding the suite's own extra test dependencies, installed once (without
    their dependencies, which the project's environment has: they must not shadow it)."""
    if not suite.extra_packages:
        return []
    folder = CACHE / f"site-{suite.name}"
    marker = folder / ".installed"
    wanted = "\n".join(suite.extra_packages)
    if not marker.exists() or marker.read_text() != wanted:
        shutil.rmtree(folder, ignore_errors=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--target",
                str(folder),
                *suite.extra_packages,
            ],
            check=True,
        )
        marker.write_text(wanted)
    return [str(folder)]


def run(suite: Suite, store: str, mode: str) -> tuple[dict[str, str], str]:
    """Each test's outcome (node id -> passed / failed / skipped), and pytest's output."""
    with tempfile.TemporaryDirectory(prefix=f"suite-{suite.name}-") as tmp:
        work = extract(suite, Path(tmp) / "src")
        (Path(tmp) / "stores").mkdir()
        if store == "sqlite":
            store_prefix = f"sqlite:///{tmp}/stores"
        else:
            store_prefix = f"{REDIS_URL}?prefix=sessionary-suite-{secrets.token_hex(4)}-"
        outcomes_file = Path(tmp) / "outcomes.jsonl"
        env = {
            **os.environ,
            "SESSIONARY_SUITE": suite.name,
            "SESSIONARY_SUITE_STORE": store_prefix,
            "SESSIONARY_SUITE_MODE": mode,
            "SESSIONARY_SUITE_OUTCOMES": str(outcomes_file),
            "PYTHONPATH": os.pathsep.join([str(HERE), str(work), *extra_site(suite)]),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "adapters",
            "-p",
            "no:cacheprovider",
            # pytest-asyncio (the project's own tests use it) warns when this is unset,
            # an error under the suites' filterwarnings = error.
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            "-q",
            "--tb=line",
            "--rootdir",
            str(work),
            *suite.arguments,
        ]
        done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
        outcomes: dict[str, str] = {}
        if outcomes_file.exists():
            for line in outcomes_file.read_text().splitlines():
                entry = json.loads(line)
                if outcomes.get(entry["test"]) != "failed":
                    outcomes[entry["test"]] = entry["outcome"]
        if store == "redis":
            _drop_redis_keys(store_prefix)
        return outcomes, done.stdout + done.stderr


def _drop_redis_keys(store_prefix: str) -> None:
    import redis

    prefix = store_prefix.split("prefix=", 1)[1]
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("suites", nargs="*", help=f"some of: {', '.join(s.name for s in SUITES)}")
    parser.add_argument("--store", choices=["sqlite", "redis"], action="append")
    parser.add_argument("--verbose", action="store_true", help="print pytest's output")
    arguments = parser.parse_args()
    chosen = [s for s in SUITES if not arguments.suites or s.name in arguments.suites]
    stores = arguments.store or ["sqlite"]
    problems = []
    for suite in chosen:
        for mode in suite.modes:
            # unmapped runs the framework's own session code: one store says it all.
            for store in stores[:1] if mode == "unmapped" else stores:
                outcomes, output = run(suite, store, mode)
                expected = EXPECTED_FAILURES.get((suite.name, mode), {})
                failed = {test for test, outcome in outcomes.items() if outcome == "failed"}
                passed = {test for test, outcome in outcomes.items() if outcome == "passed"}
                new_failures = sorted(failed - set(expected))
                new_passes = sorted(set(expected) & passed)
                absent = sorted(set(expected) - set(outcomes))
                copy = (
                    f", tests of {suite.vendored}"
                    if suite.vendored not in (None, version(suite.distribution))
                    else ""
                )
                label = f"{suite.name} {version(suite.distribution)} ({mode}, {store}{copy})"
                print(
                    f"{label}: {len(passed)} passed, {len(failed)} failed ({len(expected)} expected), "
                    f"{sum(o == 'skipped' for o in outcomes.values())} skipped"
                )
                if not outcomes:
                    problems.append(f"{label}: no test ran\n{output}")
                for test in new_failures:
                    problems.append(f"{label}: newly failing: {test}")
                for test in new_passes:
                    problems.append(f"{label}: newly passing (remove it from expected.py and docs): {test}")
                for test in absent:
                    problems.append(f"{label}: expected failure did not run: {test}")
                if arguments.verbose or new_failures:
                    print(output[-6000:])
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
