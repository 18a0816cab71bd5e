"""The demo in a real browser: Debian's Chromium, driven by Playwright, against a real server.

The demo is served by uvicorn on a free loopback port with its own SQLite file; every
check about cookies reads the browser's own cookie jar (``context.cookies()``) or what
the page can see, never a header parsed by hand. Browsers accept Secure cookies from
``http://127.0.0.1``, so no certificate is needed.

Chromium is Debian's (``/usr/bin/chromium``, installed by ``scripts/install``), never a
build Playwright downloads. Without it these tests skip with the reason, and fail under
``SESSIONARY_REQUIRE_SERVICES=1`` (CI). They also write the screenshots in
``docs/screenshots/`` that ``docs/demo.md`` shows.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from sessionary.demo.app import create_app, demo_config
from support.services import demo_command, free_port, require_module, unavailable

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("SESSIONARY_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
SCREENSHOTS = (
    DOCS_SCREENSHOTS
    if os.environ.get("SESSIONARY_SCREENSHOTS") == "1"
    else Path(tempfile.mkdtemp(prefix="sessionary-screenshots-"))
)
"""docs/screenshots when SESSIONARY_SCREENSHOTS=1 (CI sets it; so does a refresh by hand),
otherwise a temporary folder, so an ordinary test run leaves the working tree clean."""
LAPTOP_UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36"
)
PHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)
DESKTOP = {"width": 1200, "height": 800}
PHONE = {"width": 390, "height": 844}
STABLE: dict[str, Any] = {
    "locale": "en-GB",
    "timezone_id": "UTC",
    "device_scale_factor": 1,
    "reduced_motion": "reduce",
    "color_scheme": "light",
}
"""Context options that keep screenshots from changing between runs for no reason."""


# --- the browser and the server ---------------------------------------------------------


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    require_module("playwright")
    if not os.access(CHROMIUM, os.X_OK):
        unavailable(
            f"Chromium is not installed at {CHROMIUM}: scripts/install installs Debian's chromium "
            "when it runs as root with apt-get (or set SESSIONARY_CHROMIUM)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def chromium(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
    yield browser
    browser.close()


class Server:
    """uvicorn serving an ASGI app in a thread, on a free loopback port."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"the demo server did not start on port {self.port}")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start the demo (or an app wrapping it) on a temp SQLite store; stopped after the test."""
    started: list[Server] = []

    def start(*, wrap: Callable[[Any], Any] | None = None, **config: Any) -> Server:
        app = create_app(f"sqlite:///{tmp_path}/demo-{len(started)}.db", config=demo_config(**config))
        server = Server(wrap(app) if wrap else app).__enter__()
        started.append(server)
        return server

    yield start
    for server in started:
        server.__exit__()


@pytest.fixture
def demo(serve: Callable[..., Server]) -> Server:
    return serve()


# --- helpers ----------------------------------------------------------------------------


def cookie(context: BrowserContext, name: str = "__Host-sessionid") -> dict[str, Any] | None:
    """The session cookie as the browser holds it, or None."""
    found = [c for c in context.cookies() if c["name"] == name]
    assert len(found) <= 1, found
    return dict(found[0]) if found else None


def submit(page: Page, selector: str) -> None:
    """Click a submit button and wait for the page the POST redirects to."""
    with page.expect_navigation():
        page.click(selector)


def sign_in(page: Page, base: str, user: str, *, remember: bool) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", "correct horse")
    if remember:
        page.check("input[name=remember]")
    submit(page, "main form[action='/login'] button[type=submit]")


def heading(page: Page) -> str:
    return page.locator("main h1").first.inner_text()


def happened(page: Page) -> str:
    return page.locator("#happened").inner_text()


def deadline(page: Page) -> float:
    """The server's deadline for the session, as the page's countdown holds it (epoch seconds)."""
    return float(page.locator("#clock").get_attribute("data-deadline") or "nan")


# --- the cookie's attributes ------------------------------------------------------------


def test_cookie_is_secure_httponly_samesite_lax_and_host_only(chromium: Browser, demo: Server) -> None:
    context = chromium.new_context()
    page = context.new_page()
    sign_in(page, demo.base, "ada", remember=True)
    assert heading(page) == "Hello, ada."
    jar = cookie(context)
    assert jar is not None
    assert jar["secure"] is True
    assert jar["httpOnly"] is True
    assert jar["sameSite"] == "Lax"
    assert jar["path"] == "/"
    assert jar["domain"] == "127.0.0.1", "host-only: no Domain attribute"
    assert 290 < jar["expires"] - time.time() <= 301, "remember me: Max-Age=300"
    assert "__Host-sessionid" not in page.evaluate("document.cookie"), "HttpOnly: scripts cannot read it"
    context.close()


def test_host_prefix_option_of_the_demo_command(chromium: Browser, tmp_path: Path) -> None:
    """``sessionary demo --host-prefix`` for real: the browser holds ``__Host-sessionid``."""
    with demo_command("--host-prefix", "--store", f"sqlite:///{tmp_path}/host.db", cwd=tmp_path) as server:
        base = server.base
        context = chromium.new_context()
        page = context.new_page()
        sign_in(page, base, "ada", remember=False)
        assert heading(page) == "Hello, ada."
        assert cookie(context, "sessionid") is None, "no bare-named cookie"
        jar = cookie(context, "__Host-sessionid")
        assert jar is not None
        assert (jar["secure"], jar["httpOnly"], jar["sameSite"]) == (True, True, "Lax")
        assert jar["path"] == "/" and jar["domain"] == "127.0.0.1", "what __Host- demands: Path=/, no Domain"
        assert "__Host-sessionid" in page.locator(".details").inner_text()
        page.goto(base + "/devices")
        assert "this browser" in page.locator(".devices").inner_text(), (
            "the prefixed cookie opens the session"
        )
        context.close()


class CookieRecorder:
    """Wraps the demo and notes, for each request, whether the browser sent the session cookie."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seen: list[tuple[str, str, bool]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            cookies = b"; ".join(value for name, value in scope["headers"] if name == b"cookie")
            self.seen.append((scope["method"], scope["path"], b"__Host-sessionid=" in cookies))
        await self.app(scope, receive, send)


def test_same_site_lax_in_the_browser(chromium: Browser, serve: Callable[..., Server]) -> None:
    """From another site (``localhost`` is another site than ``127.0.0.1``), a link still
    carries the cookie, a form POST does not: the cross-site sign-out opens nothing."""
    recorder: CookieRecorder | None = None

    def wrap(app: Any) -> CookieRecorder:
        nonlocal recorder
        recorder = CookieRecorder(app)
        return recorder

    demo = serve(wrap=wrap)
    assert recorder is not None
    elsewhere = f"http://localhost:{demo.port}/elsewhere"
    context = chromium.new_context()
    context.route(
        elsewhere,
        lambda route: route.fulfill(
            content_type="text/html",
            body=f"""<a id="link" href="{demo.base}/check-session">a link</a>
<form method="post" action="{demo.base}/logout"><button id="post">a form</button></form>""",
        ),
    )
    page = context.new_page()
    sign_in(page, demo.base, "ada", remember=True)

    page.goto(elsewhere)
    with page.expect_navigation():
        page.click("#link")
    assert heading(page) == "User in session: ada", "a top-level link from another site carries the cookie"
    assert recorder.seen[-1] == ("GET", "/check-session", True)

    page.goto(elsewhere)
    with page.expect_navigation():
        page.click("#post")
    assert recorder.seen[-1] == ("POST", "/logout", False), "SameSite=Lax: no cookie on a cross-site POST"
    assert "Cross-site form submission refused." in page.content()
    page.goto(demo.base + "/")
    assert heading(page) == "Hello, ada.", "still signed in"
    context.close()


# --- remember me and closing the browser ------------------------------------------------


@pytest.mark.parametrize("remember", [True, False], ids=["remember-me", "browser-session"])
def test_closing_and_reopening_the_browser(
    playwright: Playwright, chromium: Browser, demo: Server, tmp_path: Path, remember: bool
) -> None:
    """A browser restart, modelled by a persistent profile closed and launched again.

    Playwright's ``storage_state()`` snapshots every cookie, session cookies included, so a
    context rebuilt from it is the same browser still open, not a restart. A profile
    directory is what a person's browser keeps on disk: Chromium writes persistent cookies
    to its cookie database and keeps session cookies (no Expires / Max-Age) in memory
    only, so closing it forgets them, as every browser does unless the user asked it to
    restore the last session (the server's ``browser_close_timeout`` bounds that case).
    The cookie that survives is then carried to a fresh context by saved storage state.
    """
    profile = tmp_path / f"profile-{remember}"

    def launch() -> BrowserContext:
        return playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=FLAGS
        )

    context = launch()
    page = context.new_page()
    sign_in(page, demo.base, "ada", remember=remember)
    assert heading(page) == "Hello, ada."
    jar = cookie(context)
    assert jar is not None
    if remember:
        assert "the cookie lasts 5 minutes" in happened(page)
        assert jar["expires"] > time.time() + 250
    else:
        assert "the cookie ends when the browser closes" in happened(page)
        assert jar["expires"] == -1, "a session cookie: no expiry"
    context.close()

    context = launch()
    page = context.pages[0] if context.pages else context.new_page()
    page.goto(demo.base + "/")
    if remember:
        assert cookie(context) == jar
        assert heading(page) == "Hello, ada."
        saved = context.storage_state()
        elsewhere = chromium.new_context(storage_state=saved)
        other = elsewhere.new_page()
        other.goto(demo.base + "/")
        assert heading(other) == "Hello, ada.", "the saved storage state carries the remembered session"
        elsewhere.close()
    else:
        assert cookie(context) is None, "the session cookie is gone after the restart"
        assert heading(page) == "You are not signed in."
    context.close()


# --- the 10-second session, the countdown -----------------------------------------------


@pytest.mark.slow
def test_the_ten_second_session_is_gone_after_ten_seconds(chromium: Browser, demo: Server) -> None:
    context = chromium.new_context()
    page = context.new_page()
    page.goto(demo.base + "/set-short-session")
    saved_at = time.time()
    assert heading(page) == "Session set for 10 seconds"
    assert "Max-Age=10" in happened(page)
    assert page.locator("#clock .left").inner_text() in ("0:10", "0:09")
    assert "Django's expiry: 10 s" in page.locator("#clock .rule").inner_text()
    jar = cookie(context)
    assert jar is not None
    assert 8 < jar["expires"] - saved_at <= 10.5
    assert 9 < deadline(page) - saved_at <= 10.5

    page.goto(demo.base + "/check-session")
    assert heading(page) == "User in session: Alice"
    assert "no cookie sent back" in happened(page)

    # The page's own countdown runs out (the script, not a reload) ...
    page.wait_for_function("document.querySelector('#clock').classList.contains('ended')", timeout=15_000)
    assert page.locator("#clock .left").inner_text() == "ended"
    time.sleep(max(0.0, saved_at + 10.5 - time.time()))
    # ... and the session is gone: the browser dropped the cookie, the server refuses it.
    page.reload()
    assert heading(page) == "User in session: No session"
    assert cookie(context) is None
    stale = {key: jar[key] for key in ("name", "value", "domain", "path", "secure", "httpOnly", "sameSite")}
    context.add_cookies([stale])  # a browser that kept it anyway
    page.reload()
    assert heading(page) == "User in session: No session", "the server ends it whatever the browser does"
    assert "a session that has ended" in happened(page)
    assert cookie(context) is None, "and tells the browser to delete the cookie"
    context.close()


@pytest.mark.slow
def test_the_countdown_follows_the_idle_timeout(chromium: Browser, serve: Callable[..., Server]) -> None:
    """Each request moves an idle deadline; once it passes, the next request finds no session."""
    demo = serve(idle_timeout=6)
    context = chromium.new_context()
    page = context.new_page()
    sign_in(page, demo.base, "ada", remember=False)
    assert page.locator("#clock .rule").inner_text().startswith("Idle timeout: 6 s")
    first = deadline(page)
    assert 4 < first - time.time() <= 6.5
    time.sleep(3)
    page.reload()
    second = deadline(page)
    assert second - first > 2, "the visit moved the idle deadline"
    page.wait_for_function("document.querySelector('#clock').classList.contains('ended')", timeout=15_000)
    time.sleep(max(0.0, second + 0.5 - time.time()))
    page.reload()
    assert heading(page) == "You are not signed in."
    context.close()


@pytest.mark.slow
def test_reading_does_not_move_django_expiry_and_saving_does(chromium: Browser, demo: Server) -> None:
    context = chromium.new_context()
    page = context.new_page()
    sign_in(page, demo.base, "ada", remember=True)
    assert page.locator("#clock .rule").inner_text().startswith("Django's expiry: 5 min")
    first = deadline(page)
    cookie_before = cookie(context)
    assert cookie_before is not None
    time.sleep(2)
    page.reload()
    assert abs(deadline(page) - first) < 0.5, "reading the session does not move Django's expiry"
    submit(page, "button:has-text('Save to the session')")
    assert "Django's expiry restarts from now" in happened(page)
    assert deadline(page) - first > 1.5, "a save restarts it"
    cookie_after = cookie(context)
    assert cookie_after is not None
    assert cookie_after["value"] == cookie_before["value"], "same session ID"
    assert cookie_after["expires"] - cookie_before["expires"] > 1.5, "the browser got a fresh Max-Age"
    context.close()


# --- sign-in, sign-out, devices ---------------------------------------------------------


def test_sign_in_issues_a_new_session_id(chromium: Browser, demo: Server) -> None:
    context = chromium.new_context()
    page = context.new_page()
    page.goto(demo.base + "/set-short-session")
    before = cookie(context)
    assert before is not None
    sign_in(page, demo.base, "ada", remember=False)
    assert "New session ID issued at sign-in" in happened(page)
    after = cookie(context)
    assert after is not None
    assert after["value"] != before["value"]

    planted = chromium.new_context()
    planted.add_cookies(
        [
            {
                "name": "__Host-sessionid",
                "value": before["value"],
                "domain": "127.0.0.1",
                "path": "/",
                "secure": True,
            }
        ]
    )
    other = planted.new_page()
    other.goto(demo.base + "/check-session")
    assert heading(other) == "User in session: No session", "the pre-sign-in ID opens nothing"
    page.goto(demo.base + "/")
    assert heading(page) == "Hello, ada."
    planted.close()
    context.close()


def test_sign_out_clears_the_cookie_and_the_old_one_opens_nothing(chromium: Browser, demo: Server) -> None:
    context = chromium.new_context()
    page = context.new_page()
    sign_in(page, demo.base, "ada", remember=True)
    old = cookie(context)
    assert old is not None
    submit(page, "header button:has-text('Sign out')")
    assert heading(page) == "You are not signed in."
    assert "Session deleted on the server" in happened(page)
    assert cookie(context) is None, "the browser dropped the cookie"

    context.add_cookies([old])
    assert cookie(context) is not None
    page.goto(demo.base + "/devices")
    assert heading(page) == "Your devices"
    assert "Sign in to see the sessions" in page.locator("main").inner_text(), "the old cookie opens nothing"
    assert cookie(context) is None, "and the server deleted it again"
    context.close()


def test_revoking_a_device_signs_it_out_at_its_next_request(chromium: Browser, demo: Server) -> None:
    laptop = chromium.new_context(user_agent=LAPTOP_UA)
    phone = chromium.new_context(user_agent=PHONE_UA, viewport=PHONE)
    on_laptop, on_phone = laptop.new_page(), phone.new_page()
    sign_in(on_laptop, demo.base, "ada", remember=True)
    sign_in(on_phone, demo.base, "ada", remember=False)

    on_phone.goto(demo.base + "/devices")
    devices = on_phone.locator(".device")
    assert devices.count() == 2
    assert "Safari on iPhone" in on_phone.locator(".device[data-current]").inner_text()
    laptop_row = on_phone.locator(".device:not([data-current])")
    assert "Chrome on macOS" in laptop_row.inner_text()
    submit(on_phone, ".device:not([data-current]) button:has-text('Sign out')")
    assert "its browser is signed out at its next request" in happened(on_phone)
    assert on_phone.locator(".device").count() == 1

    assert cookie(laptop) is not None, "the laptop does not know yet"
    on_laptop.goto(demo.base + "/")
    assert heading(on_laptop) == "You are not signed in.", "signed out at its next request"
    assert cookie(laptop) is None
    on_phone.goto(demo.base + "/")
    assert heading(on_phone) == "Hello, ada."
    laptop.close()
    phone.close()


def test_log_out_everywhere_else(chromium: Browser, demo: Server) -> None:
    contexts = [chromium.new_context() for _ in range(3)]
    pages = [context.new_page() for context in contexts]
    for page in pages:
        sign_in(page, demo.base, "ada", remember=True)
    here, *others = pages
    before = cookie(contexts[0])
    here.goto(demo.base + "/devices")
    assert here.locator(".device").count() == 3
    submit(here, "button:has-text('Log out everywhere else')")
    assert "this one got a new session ID" in happened(here)
    assert here.locator(".device").count() == 1
    after = cookie(contexts[0])
    assert before is not None and after is not None and after["value"] != before["value"]
    for page in others:
        page.goto(demo.base + "/")
        assert heading(page) == "You are not signed in."
    for context in contexts:
        context.close()


# --- screenshots for docs/demo.md --------------------------------------------------------


def no_sideways_scroll(page: Page) -> None:
    overflow = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{page.url} is {overflow}px wider than a {page.viewport_size} screen"


def shoot(page: Page, name: str) -> None:
    no_sideways_scroll(page)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True, animations="disabled")


def test_screenshots_of_the_main_pages(chromium: Browser, demo: Server) -> None:
    """The pictures in docs/demo.md, taken anew on each run, at desktop and phone widths
    (the test fails if a page scrolls sideways on a phone)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    laptop = chromium.new_context(user_agent=LAPTOP_UA, viewport=DESKTOP, **STABLE)
    page = laptop.new_page()
    page.goto(demo.base + "/")
    assert heading(page) == "You are not signed in."
    shoot(page, "home-signed-out")
    page.goto(demo.base + "/login")
    shoot(page, "sign-in")
    page.goto(demo.base + "/set-short-session")
    shoot(page, "ten-second-session")
    sign_in(page, demo.base, "ada", remember=True)
    assert heading(page) == "Hello, ada."
    shoot(page, "home-signed-in")

    phone = chromium.new_context(
        user_agent=PHONE_UA, viewport=PHONE, is_mobile=True, has_touch=True, **STABLE
    )
    on_phone = phone.new_page()
    for path in ("/", "/set-short-session", "/login"):
        on_phone.goto(demo.base + path)
        no_sideways_scroll(on_phone)
    sign_in(on_phone, demo.base, "ada", remember=False)
    no_sideways_scroll(on_phone)
    page.goto(demo.base + "/devices")
    assert page.locator(".device").count() == 2
    shoot(page, "devices")
    on_phone.goto(demo.base + "/devices")
    shoot(on_phone, "phone-devices")
    on_phone.goto(demo.base + "/check-session")
    shoot(on_phone, "phone-check-session")
    laptop.close()
    phone.close()
