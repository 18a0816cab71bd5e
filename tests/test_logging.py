"""The library's log records reach the app's handlers, and nothing else: an app that
configured no logging prints nothing (no ``logging.lastResort`` on stderr)."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from sessionary import SessionManager
from sessionary.lifecycle import open_session
from support.services import demo_command

APP = """
from sessionary import SessionManager
from sessionary.lifecycle import open_session

manager = SessionManager("memory://")
open_session(manager, "__Host-sessionid=not-a-token")  # a malformed cookie: a `rejected` warning
print("done")
"""


def test_an_app_without_logging_prints_nothing_of_sessionarys(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(APP)], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == "done\n"
    assert run.stderr == ""


def test_the_apps_handlers_still_get_the_warning(caplog: pytest.LogCaptureFixture) -> None:
    manager = SessionManager("memory://")
    with caplog.at_level(logging.INFO, logger="sessionary"):
        open_session(manager, "__Host-sessionid=not-a-token")
    assert [r.getMessage() for r in caplog.records if r.name == "sessionary.events"] == [
        "session rejected - (malformed session cookie)"
    ]


def test_the_demo_as_an_app_shows_sessionarys_warnings(tmp_path: Path) -> None:
    with demo_command("--store", f"sqlite:///{tmp_path / 'demo.db'}", cwd=tmp_path) as demo:
        httpx.get(demo.base + "/check-session", cookies={"__Host-sessionid": "not-a-token"}, timeout=10)
    assert "session rejected - (malformed session cookie)" in demo.output
