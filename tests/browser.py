"""Helpers and fixtures for real-browser tests: a live server and headless Chromium.

A browser test module loads the fixtures with::

    pytest_plugins = ["browser"]

and marks its tests ``@pytest.mark.browser``; it may also import the helpers below
(``from browser import login``). pytest does not rewrite this module's asserts
(PYTEST_DONT_REWRITE), so importing it before pytest_plugins loads it is fine. The fixtures:

- ``live_server``: the test's ``app`` (conftest, on the test's migrated database, CSRF on)
  served on 127.0.0.1 at a free port from a background thread; its base URL.
  Override ``app`` in a module to serve other settings.
- ``chromium``: one headless Debian Chromium (``/usr/bin/chromium``) per session; the tests
  skip without it, unless ``CI=true``, where they fail.
- ``new_context``: makes browser contexts on the live server (``base_url``, locale zh-CN),
  closed after the test; ``page``: a page in a default one.

Playwright's sync API is only ever used from the test (main) thread; the server thread
only runs the WSGI app.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
from werkzeug.serving import WSGIRequestHandler, make_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOCALE = "zh-CN"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
# Seconds: an idle keep-alive connection is dropped after this, and shutting down waits
# at most about this long for the server's threads.
SERVER_TIMEOUT = 5.0
# Milliseconds Playwright waits for an element or a navigation before failing.
DEFAULT_TIMEOUT_MS = 10_000


class QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler without the access log; idle connections time out."""

    timeout = SERVER_TIMEOUT

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 at a free port in a background thread; yields the base URL.

    On exit the server stops, its request threads are joined (each ends at the latest
    ``SERVER_TIMEOUT`` seconds after its client went quiet) and its socket is closed.
    """
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietRequestHandler)
    # Join the request threads on server_close() instead of leaving them behind.
    server.daemon_threads = False
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="live-server",
        daemon=True,
    )
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    # The service knows its own address from PUBLIC_URL only (never from Host).
    app.config["PUBLIC_URL"] = url
    try:
        yield url
    finally:
        server.shutdown()
        thread.join(SERVER_TIMEOUT)
        server.server_close()
        if thread.is_alive():  # pragma: no cover - only when shutdown hangs
            raise RuntimeError("the live server did not stop")


def require_chromium() -> str:
    """The Chromium executable; skip without it, but fail on CI, which must run these tests."""
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    reason = f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


def artifact(name: str) -> Path:
    """A path in test-artifacts/ (git-ignored), creating the folder."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name


class Keyboard:
    """Presses keys on a page, only through the keyboard, and counts them."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.presses = 0

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)
        self.presses += 1

    def type(self, text: str) -> None:
        """Type text key by key into the focused element (one press per character)."""
        for char in text:
            self.press(char)


def login(page: Page, username: str, password: str) -> int:
    """Sign in through the real form with the keyboard; returns the keys pressed.

    Works with JavaScript on or off (Enter submits the form natively).
    """
    page.goto("/mod/login")
    keyboard = Keyboard(page)
    page.locator("#username").focus()
    keyboard.type(username)
    keyboard.press("Tab")
    keyboard.type(password)
    with page.expect_navigation():
        keyboard.press("Enter")
    if page.url.endswith("/mod/login"):
        raise AssertionError(f"sign-in as {username!r} failed: {page.locator('main').inner_text()}")
    return keyboard.presses


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The base URL of the test's app, served over HTTP on 127.0.0.1."""
    with serve(app) as url:
        yield url


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    """One Playwright driver for the whole run: its sync API allows one per thread."""
    require_chromium()
    driver = sync_playwright().start()
    try:
        yield driver
    finally:
        driver.stop()


@contextmanager
def chromium_from(driver: Playwright, args: list[str]) -> Iterator[Browser]:
    """A headless Debian Chromium with these flags, closed on exit."""
    browser = driver.chromium.launch(executable_path=require_chromium(), headless=True, args=args)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="session")
def chromium(playwright_driver: Playwright) -> Iterator[Browser]:
    with chromium_from(playwright_driver, CHROMIUM_ARGS) as browser:
        yield browser


@pytest.fixture
def new_context(chromium: Browser, live_server: str) -> Iterator[Callable[..., BrowserContext]]:
    """Make browser contexts on the live server (zh-CN); all are closed after the test.

    Closing them before the live server stops lets its request threads end at once.
    """
    contexts: list[BrowserContext] = []

    def factory(**options: Any) -> BrowserContext:
        options.setdefault("base_url", live_server)
        options.setdefault("locale", LOCALE)
        context = chromium.new_context(**options)
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        contexts.append(context)
        return context

    yield factory
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_context: Callable[..., BrowserContext]) -> Page:
    """A page in a fresh zh-CN context on the live server."""
    return new_context().new_page()


# ---------------------------------------------------------------------------
# Additions for the reader-side (widget) tests: a portal on a second origin, a
# Chromium that blocks third-party cookies, and axe-core.

# Chromium as a reader's browser in 2025+: third-party cookies are blocked.
CHROMIUM_ARGS_NO_THIRD_PARTY_COOKIES = [
    *CHROMIUM_ARGS,
    "--test-third-party-cookie-phaseout",
    "--enable-features=TrackingProtection3pcd",
]
AXE_JS = Path(__file__).resolve().parent / "js" / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


class StaticSite:
    """A tiny web server for pages generated on each request (e.g. a portal).

    ``pages`` maps a path to a function returning the page's HTML, so a page may
    depend on things known only later (the live server's URL). ``origin`` uses
    ``host`` as given (``localhost``), a different site than ``127.0.0.1``.
    """

    def __init__(self, host: str = "localhost") -> None:
        self.pages: dict[str, Callable[[], str]] = {}
        self.requests: list[str] = []
        self.server = make_server(
            "127.0.0.1", 0, self.wsgi, threaded=True, request_handler=QuietRequestHandler
        )
        self.server.daemon_threads = False
        self.origin = f"http://{host}:{self.server.server_port}"

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        path = environ.get("PATH_INFO", "/")
        self.requests.append(path)
        page = self.pages.get(path)
        if page is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        body = page().encode("utf-8")
        start_response(
            "200 OK",
            [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
            ],
        )
        return [body]

    def url(self, path: str) -> str:
        return self.origin + path


@contextmanager
def serve_site(host: str = "localhost") -> Iterator[StaticSite]:
    """A ``StaticSite`` bound at once (its port is known before anything else is built),
    served from a background thread until exit."""
    site = StaticSite(host)
    thread = threading.Thread(
        target=site.server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="static-site",
        daemon=True,
    )
    thread.start()
    try:
        yield site
    finally:
        site.server.shutdown()
        thread.join(SERVER_TIMEOUT)
        site.server.server_close()


def require_axe() -> Path:
    """axe-core's script (installed by ``make test`` with npm ci); skip without it, fail on CI."""
    if AXE_JS.is_file():
        return AXE_JS
    reason = f"accessibility tests need axe-core at {AXE_JS} (npm ci --prefix tests/js)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


def run_axe(frame: Any, tags: list[str] | None = None) -> dict[str, Any]:
    """Inject axe-core into a page or frame and run it on its document for these tags.

    The page's CSP must let the script in (a context with ``bypass_csp=True``).
    """
    frame.add_script_tag(path=str(require_axe()))
    return frame.evaluate(
        """(tags) => axe.run(document, {runOnly: {type: "tag", values: tags}})""",
        tags or AXE_TAGS,
    )


def axe_summary(results: dict[str, Any]) -> dict[str, Any]:
    """What to keep of axe's results: every violation (id, impact, nodes), and counts."""
    violations = [
        {
            "id": v["id"],
            "impact": v.get("impact"),
            "help": v.get("help"),
            "helpUrl": v.get("helpUrl"),
            "nodes": [
                {"target": n.get("target"), "failureSummary": n.get("failureSummary")}
                for n in v.get("nodes", [])
            ],
        }
        for v in results.get("violations", [])
    ]
    return {
        "url": results.get("url"),
        "testEngine": results.get("testEngine"),
        "violations": violations,
        "passes": len(results.get("passes", [])),
        "incomplete": [
            {"id": i["id"], "impact": i.get("impact")} for i in results.get("incomplete", [])
        ],
        "inapplicable": len(results.get("inapplicable", [])),
    }


def wait_until(
    condition: Callable[[], Any], message: str | Callable[[], str], timeout: float = 10.0
) -> Any:
    """Poll ``condition`` (every 50 ms) until it returns something truthy; returns it.

    For conditions Playwright cannot wait on by itself, e.g. ones that compare a
    page with a cross-origin frame. Fails with ``message`` after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(message() if callable(message) else message)
        time.sleep(0.05)


def full_page_screenshot(page: Page, path: Path) -> None:
    """A screenshot of the whole page, cross-origin iframes included.

    Chromium paints an out-of-process (cross-site) iframe only near the viewport, so
    ``full_page=True`` leaves the rest of such a frame blank. Instead the viewport is made
    as tall as the page for the shot, then set back.
    """
    viewport = page.viewport_size
    height = page.evaluate("Math.ceil(document.documentElement.scrollHeight)")
    if viewport is None or height <= viewport["height"]:
        page.screenshot(path=path, full_page=True)
        return
    page.set_viewport_size({"width": viewport["width"], "height": height})
    try:
        page.screenshot(path=path)
    finally:
        page.set_viewport_size(viewport)
