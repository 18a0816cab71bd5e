"""The example project (examples/django): its own tests through Django's test client, and
the tutorial's flow against ``examples/django/run`` serving on a free port, driven by httpx."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services import free_port, port_open

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "django"


def _environment(data: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env.update(EXAMPLE_DATA_DIR=str(data), PYTHON=sys.executable, PYTHONUNBUFFERED="1")
    env.pop("SESSIONARY_STORE", None)
    return env


def test_example_tests_pass_with_djangos_test_runner(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "test", "tutorial", "--verbosity", "1"],
        cwd=EXAMPLE,
        env=_environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"Ran [1-9]\d* tests", result.stderr)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """``examples/django/run 127.0.0.1:PORT --noreload``, stopped afterwards."""
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [str(EXAMPLE / "run"), f"127.0.0.1:{port}", "--noreload"],
        env=_environment(tmp_path),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not port_open("127.0.0.1", port, timeout=0.2):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("runserver did not start:\n" + (tmp_path / "server.log").read_text())
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
    assert (tmp_path / "sessions.db").exists()  # the sessions were kept by sessionary's SQLite store


def _csrf(client: httpx.Client, path: str) -> str:
    page = client.get(path)
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)


@pytest.mark.slow
def test_tutorial_flow_on_runserver(served: str) -> None:
    with httpx.Client(base_url=served) as browser:
        response = browser.get("/set-short-session")
        assert response.text == "Session set for 10 seconds"
        cookie = response.headers["set-cookie"]
        assert "Max-Age=10" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert browser.get("/check-session").text == "User in session: Alice"
        with httpx.Client(base_url=served) as stranger:
            assert stranger.get("/check-session").text == "User in session: No session"
        time.sleep(10.5)  # the tutorial's point: ten seconds later, the session is gone
        assert browser.get("/check-session").text == "User in session: No session"

    with httpx.Client(base_url=served) as browser:
        token = _csrf(browser, "/login/")
        response = browser.post(
            "/login/", data={"username": "alice", "password": "wonderland", "csrfmiddlewaretoken": token}
        )
        assert response.status_code == 302
        assert "Max-Age=300" in response.headers["set-cookie"]
        home = browser.get("/")
        assert "Signed in as <strong>alice</strong>" in home.text
        devices = browser.get("/account/sessions/")
        assert "This session" in devices.text
        token = _csrf(browser, "/")
        response = browser.post("/logout/", data={"csrfmiddlewaretoken": token})
        assert response.status_code == 302
        assert 'sessionid=""' in response.headers["set-cookie"]
        assert "Sign in" in browser.get("/").text
