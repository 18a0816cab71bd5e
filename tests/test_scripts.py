"""scripts/test as a contributor runs it: what each step is given, with each step replaced
by a recorder (the real steps install and run everything; their own tests are the suite)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEPS = ("install", "check", "test-django-latest", "test-without-services")


def checkout_with_recorders(tmp_path: Path) -> Path:
    """A copy of scripts/test in a tree whose other scripts and .venv python record their arguments."""
    (tmp_path / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "test", tmp_path / "scripts" / "test")
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    for step, path in [(s, tmp_path / "scripts" / s) for s in STEPS] + [
        ("pytest", tmp_path / ".venv" / "bin" / "python")
    ]:
        path.write_text(f'#!/usr/bin/env bash\necho "{step} $*" >> "$CALLS"\n')
        path.chmod(0o755)
    return tmp_path


def calls(tree: Path, *arguments: str) -> list[str]:
    record = tree.parent / "calls"
    env = {"PATH": os.environ["PATH"], "CALLS": str(record)}
    subprocess.run([tree / "scripts" / "test", *arguments], check=True, cwd=tree, env=env, timeout=60)
    return record.read_text().splitlines()


def test_a_filter_reaches_the_django_6_run_too(tmp_path: Path) -> None:
    tree = checkout_with_recorders(tmp_path / "checkout")
    run = calls(tree, "-k", "sqlite", "-x")
    assert run == [
        "install ",
        "check ",
        "pytest -m pytest -k sqlite -x",
        "test-django-latest -q -k sqlite -x",
    ]


def test_a_full_run_also_runs_the_suite_without_services(tmp_path: Path) -> None:
    tree = checkout_with_recorders(tmp_path / "checkout")
    assert calls(tree) == [
        "install ",
        "check ",
        "pytest -m pytest",
        "test-django-latest -q",
        "test-without-services ",
    ]


def test_ci_runs_every_python_the_classifiers_name() -> None:
    """3.11 (the main environment) and 3.12 (the Django 6 run); 3.13 only with its own run."""
    import tomllib

    classifiers = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["classifiers"]
    versions = sorted(
        c.rsplit(":: ", 1)[1] for c in classifiers if c.startswith("Programming Language :: Python :: 3.")
    )
    ci = (ROOT / ".ci" / "run").read_text()
    test = (ROOT / "scripts" / "test").read_text()
    assert versions == (["3.11", "3.12", "3.13"] if "scripts/test-python313" in ci else ["3.11", "3.12"])
    assert "scripts/test\n" in ci
    assert "scripts/test-django-latest" in test
    assert (
        "python3.11"
        in (ROOT / "scripts" / "install").read_text().split("for candidate in", 1)[1].split("\n")[0]
    )
    assert "(3, 13)" in (ROOT / "scripts" / "test-python313").read_text()
