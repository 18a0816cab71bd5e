"""The demo: the tutorial flow, sign-in with and without "remember me", devices, sign-out.

In-process through Starlette's TestClient with a fake clock, and once for real: the
``sessionary demo`` command serving on a free port, driven by an HTTP client that
handles the cookie by hand (as a browser would, but visibly).
"""

from __future__ import annotations

import html
import re
import time
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from sessionary.demo.app import create_app, demo_config
from sessionary.testing import FakeClock
from support.http_apps import attributes
from support.services import demo_command

COOKIE = re.compile(r"__Host-sessionid=([^;]*)")


def client(tmp_path: Path, clock: FakeClock, name: str = "browser") -> TestClient:
    app = create_app(f"sqlite:///{tmp_path}/demo.db", clock=clock)
    return TestClient(app, base_url="https://testserver", headers={"user-agent": f"{name} Chrome/130 Linux"})


def token(response: httpx.Response) -> str | None:
    found = COOKIE.search(response.headers.get("set-cookie", ""))
    return found.group(1) if found else None


def test_tutorial_flow_with_a_fake_clock(tmp_path: Path, clock: FakeClock) -> None:
    browser = client(tmp_path, clock)
    first = browser.get("/check-session")
    assert "User in session: No session" in first.text
    assert "set-cookie" not in first.headers
    short = browser.get("/set-short-session")
    assert "Session set for 10 seconds" in short.text
    assert "Max-Age=10" in short.headers["set-cookie"]
    read = browser.get("/check-session")
    assert "User in session: Alice" in read.text
    assert "set-cookie" not in read.headers, "a read sends no cookie back, as the page says"
    assert "no cookie sent back" in read.text
    clock.advance(9)
    assert "User in session: Alice" in browser.get("/check-session").text
    clock.advance(1.5)
    expired = browser.get("/check-session")
    assert "User in session: No session" in expired.text
    assert '__Host-sessionid=""' in expired.headers["set-cookie"], "the stale cookie is deleted"


def sign_in(browser: TestClient, user: str, *, remember: bool) -> httpx.Response:
    form = {"username": user, "password": "x"}
    if remember:
        form["remember"] = "1"
    return browser.post("/login", data=form, follow_redirects=False)


def test_sign_in_issues_a_new_id_and_honours_remember_me(tmp_path: Path, clock: FakeClock) -> None:
    browser = client(tmp_path, clock)
    before = token(browser.get("/set-short-session"))
    response = sign_in(browser, "ada", remember=True)
    assert response.status_code == 303
    after = token(response)
    assert after and after != before, "a new session ID at sign-in"
    assert "Max-Age=300" in response.headers["set-cookie"]
    home = browser.get(response.headers["location"])
    assert "New session ID issued at sign-in" in home.text
    assert "Hello, ada." in home.text
    # The pre-sign-in token opens nothing any more.
    replay = TestClient(
        browser.app, base_url="https://testserver", cookies={"__Host-sessionid": before or ""}
    )
    assert "User in session: No session" in replay.get("/check-session").text

    other = client(tmp_path, clock, "other")
    other.app = browser.app
    response = sign_in(other, "bob", remember=False)
    cookie = response.headers["set-cookie"]
    assert "Max-Age" not in cookie and "expires" not in cookie, "a browser-session cookie"
    assert "the cookie ends when the browser closes" in other.get(response.headers["location"]).text


def test_sign_in_validates_the_form(tmp_path: Path, clock: FakeClock) -> None:
    browser = client(tmp_path, clock)
    response = browser.post("/login", data={"username": "   "})
    assert response.status_code == 400
    assert "Enter a user name" in response.text
    assert "set-cookie" not in response.headers


def test_cross_site_posts_are_refused(tmp_path: Path, clock: FakeClock) -> None:
    browser = client(tmp_path, clock)
    response = browser.post("/login", data={"username": "ada"}, headers={"origin": "https://evil.example"})
    assert response.status_code == 403
    assert "set-cookie" not in response.headers


def test_sign_out_deletes_the_session_everywhere(tmp_path: Path, clock: FakeClock) -> None:
    browser = client(tmp_path, clock)
    signed_in = token(sign_in(browser, "ada", remember=True))
    response = browser.post("/logout", follow_redirects=False)
    assert '__Host-sessionid=""' in response.headers["set-cookie"]
    assert response.headers["clear-site-data"] == '"cookies"'
    replay = TestClient(
        browser.app, base_url="https://testserver", cookies={"__Host-sessionid": signed_in or ""}
    )
    page = replay.get("/devices")
    assert "Sign in to see the sessions" in page.text


def test_devices_list_and_revoke(tmp_path: Path, clock: FakeClock) -> None:
    laptop = client(tmp_path, clock, "laptop")
    phone = TestClient(
        laptop.app, base_url="https://testserver", headers={"user-agent": "phone Firefox/130 Android"}
    )
    sign_in(laptop, "ada", remember=True)
    sign_in(phone, "ada", remember=False)
    page = laptop.get("/devices")
    handles = re.findall(r'data-handle="([0-9a-f]{64})"', page.text)
    assert len(handles) == 2
    assert "Chrome on Linux" in page.text and "Firefox on Android" in page.text
    current = re.search(r'data-handle="([0-9a-f]{64})" data-current>', page.text)
    assert current is not None
    (other,) = [h for h in handles if h != current.group(1)]
    revoked = laptop.post("/devices/revoke", data={"handle": other}, follow_redirects=False)
    assert revoked.headers["location"] == "/devices?did=revoked"
    assert "Sign in to see the sessions" in phone.get("/devices").text, (
        "the phone is signed out at its next request"
    )
    # A handle of someone else's session does nothing.
    mallory = TestClient(laptop.app, base_url="https://testserver")
    sign_in(mallory, "mallory", remember=False)
    laptop_handle = current.group(1)
    attempt = mallory.post("/devices/revoke", data={"handle": laptop_handle}, follow_redirects=False)
    assert attempt.headers["location"] == "/devices?did=not-found"
    assert "Hello, ada." in laptop.get("/").text


def test_log_out_everywhere_else(tmp_path: Path, clock: FakeClock) -> None:
    one = client(tmp_path, clock, "one")
    others = [TestClient(one.app, base_url="https://testserver") for _ in range(3)]
    sign_in(one, "ada", remember=True)
    for other in others:
        sign_in(other, "ada", remember=True)
    before = one.cookies.get("__Host-sessionid")
    response = one.post("/devices/revoke-others", follow_redirects=False)
    assert token(response) not in (None, before), "the current session gets a new ID"
    for other in others:
        assert "You are not signed in." in other.get("/").text
    page = one.get("/devices")
    assert len(re.findall(r'data-handle="', page.text)) == 1


def test_idle_timeout_of_the_demo(tmp_path: Path, clock: FakeClock) -> None:
    config = demo_config()
    assert config.idle_timeout == 900
    browser = client(tmp_path, clock)
    sign_in(browser, "ada", remember=False)
    clock.advance(800)
    assert "Hello, ada." in browser.get("/").text
    clock.advance(800)
    assert "Hello, ada." in browser.get("/").text, "each request slides the idle deadline"
    clock.advance(901)
    assert "You are not signed in." in browser.get("/").text


@pytest.mark.slow
def test_tutorial_flow_against_the_real_server(tmp_path: Path) -> None:
    """`sessionary demo` serving for real; the 10-second session really ends after 10 s."""
    with (
        demo_command("--store", f"sqlite:///{tmp_path}/d.db", cwd=tmp_path) as server,
        httpx.Client(base_url=server.base, timeout=5) as http,
    ):
        assert "User in session: No session" in http.get("/check-session").text
        short = http.get("/set-short-session")
        assert "Session set for 10 seconds" in short.text
        cookie = token(short)
        assert cookie
        headers = {"cookie": f"__Host-sessionid={cookie}"}
        assert "User in session: Alice" in http.get("/check-session", headers=headers).text
        time.sleep(10.5)
        later = http.get("/check-session", headers=headers)
        assert "User in session: No session" in later.text
        assert '__Host-sessionid=""' in later.headers["set-cookie"]


def test_demo_command_host_prefix_flag_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from sessionary.cli import build_parser

    monkeypatch.delenv("SESSIONARY_DEMO_HOST_PREFIX", raising=False)
    assert build_parser().parse_args(["demo"]).host_prefix is False
    assert build_parser().parse_args(["demo", "--host-prefix"]).host_prefix is True
    monkeypatch.setenv("SESSIONARY_DEMO_HOST_PREFIX", "1")
    assert build_parser().parse_args(["demo"]).host_prefix is True
    monkeypatch.setenv("SESSIONARY_DEMO_HOST_PREFIX", "0")
    assert build_parser().parse_args(["demo"]).host_prefix is False


def test_host_prefix_names_the_cookie(tmp_path: Path, clock: FakeClock) -> None:
    app = create_app(f"sqlite:///{tmp_path}/demo.db", clock=clock, host_prefix=True)
    browser = TestClient(app, base_url="https://testserver")
    cookie = browser.get("/set-short-session").headers["set-cookie"]
    assert cookie.startswith("__Host-sessionid=")
    flags = attributes(cookie)
    assert flags["path"] == "/" and "secure" in flags and "domain" not in flags
    assert "User in session: Alice" in browser.get("/check-session").text


@pytest.mark.parametrize(
    ("settings", "remember", "rule", "seconds"),
    [
        ({}, True, "Django's expiry: 5 min after the last save", 300),
        ({}, False, "Idle timeout: 15 min after your last request", 900),
        ({"absolute_timeout": 600}, False, "Absolute timeout: 10 min after sign-in", 600),
        ({"idle_timeout": None}, False, "Browser-close limit: 1 day after sign-in", 86400),
    ],
)
def test_the_countdown_names_the_rule_that_ends_the_session(
    tmp_path: Path, clock: FakeClock, settings: dict[str, int | None], remember: bool, rule: str, seconds: int
) -> None:
    app = create_app(f"sqlite:///{tmp_path}/demo.db", config=demo_config(**settings), clock=clock)
    browser = TestClient(app, base_url="https://testserver")
    sign_in(browser, "ada", remember=remember)
    page = html.unescape(browser.get("/").text)
    assert rule in page
    expires_in = float(re.search(r'id="clock"[^>]*data-expires-in="([0-9.]+)"', page).group(1))  # type: ignore[union-attr]
    assert expires_in == pytest.approx(seconds, abs=1)


def test_a_stale_cookie_is_explained(tmp_path: Path, clock: FakeClock) -> None:
    browser = client(tmp_path, clock)
    browser.get("/set-short-session")
    clock.advance(11)
    page = browser.get("/")
    assert "sent a cookie for a session that has ended" in page.text
    assert '__Host-sessionid=""' in page.headers["set-cookie"]
    assert "No cookie came with this request" in browser.get("/").text


def test_the_demo_binds_signed_in_sessions_with_dbsc(tmp_path: Path, clock: FakeClock) -> None:
    """``sessionary demo --dbsc``: sign-in offers the binding; a proof of the challenge binds
    the session; from then on its cookie alone opens nothing."""
    from dbsc_browser import Key, parameters

    app = create_app(f"sqlite:///{tmp_path}/demo.db", clock=clock, dbsc=True)
    browser = TestClient(app, base_url="https://testserver")
    response = sign_in(browser, "ada", remember=True)
    offer = response.headers.get("secure-session-registration")
    assert offer is not None and offer.startswith("(ES256 RS256);path=")
    params = parameters(offer)
    proof = Key("ES256").proof({"jti": params["challenge"]}, with_jwk=True)
    registered = browser.post(params["path"], headers={"Secure-Session-Response": proof})
    assert registered.status_code == 200, registered.text
    assert registered.json()["credentials"][0]["name"] == "__Host-sessionid-bound"
    assert "Hello, ada." in browser.get("/").text
    session_only = TestClient(
        app, base_url="https://testserver", cookies={"__Host-sessionid": token(response) or ""}
    )
    assert session_only.get("/").status_code == 401


def test_plain_http_from_another_address_says_why_no_cookie_is_kept(tmp_path: Path, clock: FakeClock) -> None:
    """A browser drops a Secure cookie sent over plain HTTP to anything but localhost: the
    page says so, and what to do, instead of silently starting a new session each time."""
    app = create_app(f"sqlite:///{tmp_path}/demo.db", clock=clock)
    for base in ("http://192.168.1.20:8000", "http://demo.example"):
        page = TestClient(app, base_url=base).get("/")
        assert 'id="cookie-warning"' in page.text, base
        warning = html.unescape(page.text.split('id="cookie-warning"', 1)[1].split("</section>", 1)[0])
        assert "plain http" in warning and "https" in warning and "--insecure-cookie" in warning
    for base in (
        "https://192.168.1.20",
        "http://localhost:8000",
        "http://127.0.0.1:8000",
        "http://[::1]:8000",
    ):
        assert 'id="cookie-warning"' not in TestClient(app, base_url=base).get("/").text, base


def test_insecure_cookie_keeps_the_session_over_plain_http(tmp_path: Path, clock: FakeClock) -> None:
    app = create_app(f"sqlite:///{tmp_path}/demo.db", clock=clock, insecure_cookie=True)
    browser = TestClient(app, base_url="http://192.168.1.20:8000")
    short = browser.get("/set-short-session")
    assert "secure" not in attributes(short.headers["set-cookie"])
    page = browser.get("/check-session")
    assert "User in session: Alice" in page.text
    assert 'id="cookie-warning"' not in page.text


def test_insecure_cookie_with_host_prefix_is_one_clear_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-m", "sessionary.cli", "demo", "--insecure-cookie", "--host-prefix", "--port", "1"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [
        "sessionary: cookie_host_prefix: a __Host- cookie requires cookie_secure=True"
    ]
