"""The load test's short form: ``bench/load.py --short`` on SQLite, Redis and PostgreSQL.

The demo app under uvicorn, 300 sessions, 16 concurrent clients for a few seconds, the
store restarted midway (see the script). Asserted here is what must hold whatever the
machine's speed: every session read back intact (none lost, no acknowledged write
lost), no 500, no request answered with someone else's session. Its timings are
reported, not asserted (docs/reliability.md has the long form's figures).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from support.services import require_executable, require_module, unavailable
from support.throwaway_postgres import find_bindir

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def test_short_load_run_loses_no_session(tmp_path: Path) -> None:
    require_module("uvicorn")
    require_executable("redis-server")
    if find_bindir() is None:
        unavailable("no PostgreSQL server binaries (initdb, postgres) for the load test's own server")
    output = tmp_path / "load.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "load.py"), "--short", "--json", str(output)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = {result["store"]: result for result in json.loads(output.read_text())}
    assert set(results) == {"sqlite", "redis", "postgresql"}
    for store, result in results.items():
        assert result["not_signed_in"] == 0, store
        assert result["sessions_lost"] == 0, store
        assert result["updates_lost"] == 0, store
        assert result["wrong_answers"] == 0, store
        assert "500" not in result["served"] and "500" not in result["errors"], store
        assert result["served"].get("200", 0) > 0 and result["served"].get("303", 0) > 0, store
        # Every error is one a restart explains: the store unavailable (503) or, for the
        # embedded store, the app server itself restarting (no connection).
        assert set(result["errors"]) <= {"503", "ConnectError", "RemoteProtocolError", "ReadError"}, store
