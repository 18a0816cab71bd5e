"""The installed version of sessionary, for the command line and telemetry."""

from __future__ import annotations


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("sessionary")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"
