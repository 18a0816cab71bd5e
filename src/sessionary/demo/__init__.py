"""The example app (being written): ``sessionary demo``."""

from __future__ import annotations


def serve(*, host: str, port: int, store: str) -> None:
    raise SystemExit("sessionary demo: not available yet in this build")
