"""Reaching the services tests need, and skipping (or, in CI, failing) when they are absent.

``SESSIONARY_REQUIRE_SERVICES=1`` (set by ``.ci/run``) turns every "service absent" skip
into a failure, so nothing can skip silently in CI. ``SESSIONARY_TEST_REDIS`` and
``SESSIONARY_TEST_POSTGRES`` move the shared servers (``scripts/test-without-services``
points them at closed ports).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

POSTGRES_URL = os.environ.get("SESSIONARY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("SESSIONARY_TEST_REDIS", "redis://127.0.0.1:6379/0")


def _address(url: str, default_port: int) -> tuple[str, int]:
    """Where a service URL points, so that moving the URL moves every check with it."""
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


REDIS_HOST, REDIS_PORT = _address(REDIS_URL, 6379)
POSTGRES_HOST, POSTGRES_PORT = _address(POSTGRES_URL, 5432)


def services_required() -> bool:
    return os.environ.get("SESSIONARY_REQUIRE_SERVICES") == "1"


def unavailable(reason: str) -> None:
    """Skip with ``reason``, or fail with it when services are required."""
    if services_required():
        pytest.fail(f"required service unavailable: {reason}", pytrace=False)
    pytest.skip(reason)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_port(name: str, host: str, port: int) -> None:
    if not port_open(host, port):
        unavailable(f"{name} is not reachable on {host}:{port}")


def require_module(name: str) -> None:
    try:
        __import__(name)
    except ImportError:
        unavailable(f"the Python package {name!r} is not installed")


def require_executable(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        unavailable(f"the program {name!r} is not installed")
        raise AssertionError("unreachable")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class DemoCommand:
    """A running ``sessionary demo`` process; ``output`` is what it printed, once it ended."""

    def __init__(self, base: str, process: subprocess.Popen[str]) -> None:
        self.base = base
        self.process = process
        self.output = ""


@contextlib.contextmanager
def demo_command(*arguments: str, cwd: Path) -> Iterator[DemoCommand]:
    """Run ``sessionary demo --port <free> *arguments`` for real, until the block ends."""
    port = free_port()
    command = [sys.executable, "-m", "sessionary.cli", "demo", "--port", str(port), *arguments]
    process = subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ
    )
    running = DemoCommand(f"http://127.0.0.1:{port}", process)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(running.base + "/", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"sessionary demo did not start: {process.communicate()[0]}") from None
                time.sleep(0.05)
        yield running
    finally:
        process.terminate()
        running.output = process.communicate(timeout=10)[0]


def forked_loads_stay_apart(store: Any, *, parent: bytes, child: bytes, loads: int = 200) -> None:
    """Fork, then load ``parent``'s session in this process and ``child``'s in the child,
    ``loads`` times each at once: each must get its own record every time (a process
    that shared its parent's connections would read the other's replies)."""
    expected = {key: store.sync.load(key, time.time()).data for key in (parent, child)}
    assert expected[parent] != expected[child]
    pid = os.fork()
    if pid == 0:  # the child: exit status 0 only if every load was its own
        status = 1
        try:
            ok = all(_loads_as(store, child, expected[child]) for _ in range(loads))
            status = 0 if ok else 2
        finally:
            os._exit(status)
    try:
        for _ in range(loads):
            assert _loads_as(store, parent, expected[parent])
        deadline = time.monotonic() + 30
        while (waited := os.waitpid(pid, os.WNOHANG))[0] == 0:
            assert time.monotonic() < deadline, "the forked process hangs (waiting for a reply it lost?)"
            time.sleep(0.05)
    except BaseException:
        with contextlib.suppress(OSError):
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        raise
    assert os.waitstatus_to_exitcode(waited[1]) == 0, "the forked process read a reply not its own"


def _loads_as(store: Any, key: bytes, data: object) -> bool:
    loaded = store.sync.load(key, time.time())
    return loaded is not None and loaded.data == data
