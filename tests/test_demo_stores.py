"""The demo on every store (issue: "the demo and the CLI accept every store URL")."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from sessionary.demo.app import create_app
from sessionary.stores import Store
from support.postgres_helpers import drop_tables, postgres_url
from support.services import demo_command


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
    try:
        with demo_command("--store", url, cwd=tmp_path) as server:
            short = httpx.get(server.base + "/set-short-session", timeout=5)
            assert short.status_code == 200, short.text
            cookie = short.headers["set-cookie"].split(";")[0]
            check = httpx.get(server.base + "/check-session", headers={"cookie": cookie}, timeout=5)
            assert "User in session: Alice" in check.text
    finally:
        drop_tables(table)
    assert "tables ready" in server.output
