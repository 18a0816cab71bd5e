"""The demo on every store (issue: "the demo and the CLI accept every store URL")."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from postgres_helpers import drop_tables, postgres_url
from starlette.testclient import TestClient

from conformance.stores import FACTORIES
from services import free_port
from sessionary.demo.app import create_app
from sessionary.stores import Store


@pytest.fixture(params=sorted(FACTORIES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with FACTORIES[request.param](tmp_path) as opened:
        yield opened


def tutorial(client: TestClient) -> None:
    assert "Session set for 10 seconds" in client.get("/set-short-session").text
    assert "User in session: Alice" in client.get("/check-session").text
    signed = client.post("/login", data={"username": "ada", "remember": "1"})
    assert signed.status_code == 200 and "Hello, ada." in signed.text


def test_the_demo_on_every_server_side_store(store: Store) -> None:
    with TestClient(create_app(store), base_url="https://testserver") as client:
        tutorial(client)
        devices = client.get("/devices")
        assert devices.status_code == 200 and devices.text.count('class="device') >= 1
        out = client.post("/logout")
        assert "You are not signed in." in out.text


def test_the_demo_on_the_cookie_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SESSIONARY_SECRET_KEYS", raising=False)
    with TestClient(create_app("cookie://"), base_url="https://testserver") as client:
        tutorial(client)
        devices = client.get("/devices")
        assert devices.status_code == 200
        assert "cannot list or end sessions" in devices.text
        assert "You are not signed in." in client.post("/logout").text


def test_sessionary_demo_command_on_postgresql(tmp_path: Path) -> None:
    """`sessionary demo --store postgresql://...` creates its tables and serves."""
    table = f"demo_{uuid.uuid4().hex[:12]}"
    url = postgres_url(table=table)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "sessionary.cli", "demo", "--port", str(port), "--store", url],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(150):
            try:
                httpx.get(base + "/", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        short = httpx.get(base + "/set-short-session", timeout=5)
        assert short.status_code == 200, short.text
        cookie = short.headers["set-cookie"].split(";")[0]
        check = httpx.get(base + "/check-session", headers={"cookie": cookie}, timeout=5)
        assert "User in session: Alice" in check.text
    finally:
        server.terminate()
        output = server.communicate(timeout=10)[0]
        drop_tables(table)
    assert "tables ready" in output
