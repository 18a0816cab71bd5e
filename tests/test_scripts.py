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
