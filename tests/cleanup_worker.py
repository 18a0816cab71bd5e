"""An app process whose background cleanup runs, for test_cleanup_scheduler.py.

    python cleanup_worker.py STORE_URL INTERVAL SECONDS

Opens a manager on STORE_URL with ``cleanup_interval=INTERVAL``, serves one request (the
first request starts the scheduler, as in an app), then lets the scheduler work for
SECONDS. Prints one JSON line per cleanup attempt, then "done" with its totals.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time

from sessionary import SessionManager
from sessionary.cleanup_scheduler import CleanupRun


def main(url: str, interval: int, seconds: float) -> None:
    manager = SessionManager(url, cleanup_interval=interval)
    assert manager.cleanup is not None

    def report(run: CleanupRun) -> None:
        line = {"holder": manager.cleanup.holder if manager.cleanup else "", **dataclasses.asdict(run)}
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()

    manager.cleanup.observers.append(report)
    manager.close_session(manager.open(None), 200)
    time.sleep(seconds)
    manager.close()
    totals = manager.cleanup.totals
    sys.stdout.write(json.dumps({"done": True, "cleaned": totals.cleaned, "skipped": totals.skipped}) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
