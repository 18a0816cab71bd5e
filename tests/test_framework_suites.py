"""Each framework's own session tests pass against sessionary, but for the deliberate
differences listed in scripts/framework_suites/expected.py and docs/frameworks.md.

The test files come from the frameworks' released sdists (PyPI only), or, for a project
whose sdist ships none, from the copy vendored under tests/integrations/upstream/; the script fails on
a newly failing test and on a listed one that now passes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_frameworks_own_session_suites() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "framework_suites" / "run.py")],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-4000:]
    for suite in ("starlette", "flask", "flask-login", "starsessions", "litestar"):
        assert f"\n{suite} " in "\n" + done.stdout
