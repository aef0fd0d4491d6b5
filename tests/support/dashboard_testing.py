"""What the dashboard's Chromium tests share: Debian's headless Chromium (driven by Playwright
with ``executable_path``) with every ``*.<BERTH_DOMAIN>`` name resolving to this machine, a
fresh page per test that collects console errors, screenshots under ``test-artifacts/dashboard/``,
and the steps every test takes (sign in, confirm a dialog, wait for text). The fixtures are
made available to ``tests/e2e`` by its conftest."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from berth_testing import RunningPlatform, wait_for
from browser_netns import browser_namespace

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"
DIST = Path(__file__).resolve().parents[2] / "frontend" / "dist" / "index.html"
# What these machines need (closed network): no background traffic, no QUIC, no GPU.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser(platform: RunningPlatform, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless Debian Chromium in a network namespace of its own (see ``browser_netns``) that
    reaches the platform's ports on 127.0.0.1; every ``*.<BERTH_DOMAIN>`` name resolves to it, as
    a wildcard DNS record would make it on a server."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: run scripts/bootstrap.sh --dev (make test does)")
    if not DIST.exists():
        pytest.fail("the dashboard is not built: run scripts/bootstrap.sh (make test does)")
    from playwright.sync_api import sync_playwright

    domain = platform.env["BERTH_DOMAIN"]
    env = platform.env
    ports = [int(env["BERTH_API_PORT"]), int(env["BERTH_HTTP_PORT"]), int(env["BERTH_HTTPS_PORT"])]
    netns = f"berth-browser-{os.getpid()}"
    with (
        browser_namespace(netns, ports, CHROMIUM, tmp_path_factory.mktemp("browser")) as launcher,
        sync_playwright() as p,
    ):
        b = p.chromium.launch(
            executable_path=launcher,
            headless=True,
            args=[*CHROMIUM_ARGS, f"--host-resolver-rules=MAP *.{domain} 127.0.0.1"],
        )
        try:
            yield b
        finally:
            b.close()


class Shots:
    def __init__(self, name: str) -> None:
        self.dir = ARTIFACTS / name
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        self.n = 0

    def take(self, page: Any, what: str) -> None:
        self.n += 1
        page.screenshot(path=str(self.dir / f"{self.n:02d}-{what}.png"), full_page=True)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) whose console errors and page errors are collected."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    pg.console_errors = errors
    try:
        yield pg
    finally:
        context.close()


def expect_text(page: Any, selector: str, pattern: str, timeout: float = 30) -> None:
    """Poll until an element matching ``selector`` shows ``pattern`` (a regex)."""
    rx = re.compile(pattern)

    texts: list[str] = []

    def shown() -> bool:
        loc = page.locator(selector)
        texts[:] = [loc.nth(i).inner_text() for i in range(loc.count())]
        return any(rx.search(text) for text in texts)

    try:
        wait_for(shown, timeout=timeout, interval=0.25, what=f"{selector} to show {pattern!r}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; it shows {texts!r}") from None


def confirm(page: Any, button: str) -> None:
    """Click an action button, then the confirm button of the dialog it opens."""
    page.get_by_role("button", name=button, exact=True).first.click()
    dialog = page.locator("dialog[open]")
    dialog.wait_for()
    dialog.get_by_role("button").last.click()
    page.locator("dialog[open]").wait_for(state="detached")


def sign_in(page: Any, platform: RunningPlatform) -> None:
    page.goto(platform.base + "/")
    page.get_by_label("Admin token").fill(platform.token)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Apps").wait_for()
