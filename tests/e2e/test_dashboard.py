"""The dashboard in real headless Chromium (Debian's ``chromium``, driven by Playwright with
``executable_path``), against the whole platform run by ``berth up``: sign in, create an app
(with the API's 422 shown inline), deploy and watch the internals timeline fill in, open the
site through its link, tail logs live, set and reveal an env var, restart, deploy again and
roll back, configure a health check and see its chart, at phone width too, without console
errors. Screenshots go to ``test-artifacts/dashboard/``."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from berth_testing import RunningPlatform, build_busybox_image, wait_for

pytestmark = pytest.mark.e2e

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
def browser(platform: RunningPlatform) -> Iterator[Any]:
    """Headless Debian Chromium; every ``*.<BERTH_DOMAIN>`` name resolves to this machine, as a
    wildcard DNS record would make it on a server."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: run scripts/bootstrap.sh --dev (make test does)")
    if not DIST.exists():
        pytest.fail("the dashboard is not built: run scripts/bootstrap.sh (make test does)")
    from playwright.sync_api import sync_playwright

    domain = platform.env["BERTH_DOMAIN"]
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
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


def release_status(p: RunningPlatform, app: str, version: int) -> str:
    items = p.api.get(f"/api/apps/{app}/releases").json()["items"]
    return next((r["status"] for r in items if r["version"] == version), "absent")


def wait_release_live(p: RunningPlatform, app: str, version: int) -> None:
    def live() -> bool:
        status = release_status(p, app, version)
        assert status != "failed", p.api.get(f"/api/apps/{app}/releases").json()["items"][0]["reason"]
        return status == "live"

    wait_for(live, timeout=90, what=f"{app} v{version} live")


def confirm(page: Any, button: str) -> None:
    """Click an action button, then the confirm button of the dialog it opens."""
    page.get_by_role("button", name=button, exact=True).first.click()
    dialog = page.locator("dialog[open]")
    dialog.wait_for()
    dialog.get_by_role("button").last.click()
    page.locator("dialog[open]").wait_for(state="detached")


def test_sign_in_is_a_cookie_the_page_cannot_read(platform: RunningPlatform, page: Any) -> None:
    shots = Shots("sign-in")
    page.goto(platform.base + "/")
    field = page.get_by_label("Admin token")
    assert field.get_attribute("type") == "password"
    field.fill("not-the-token")
    page.get_by_role("button", name="Sign in").click()
    expect_text(page, "[role=alert]", "not valid")
    shots.take(page, "wrong-token")
    page.console_errors.clear()  # the 401 of the wrong token, on purpose

    field.fill(platform.token)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Apps").wait_for()
    shots.take(page, "signed-in")
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["berth_session"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Strict"
    assert platform.token not in session["value"]
    assert page.evaluate("document.cookie") == ""
    storage = page.evaluate("JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])")
    assert platform.token not in storage
    assert platform.token not in page.url

    # The cookie alone cannot change anything without the CSRF header (what a cross-site form sends).
    cookie = {"berth_session": session["value"]}
    with httpx.Client(base_url=platform.base, cookies=cookie) as c:
        assert c.get("/api/apps").status_code == 200
        forged = c.post("/api/apps", json={"name": "forged"})
        assert forged.status_code == 403, forged.text
        assert c.post("/api/apps", json={"name": "Bad"}, headers={"X-Berth-CSRF": "1"}).status_code == 422

    # Deep links load the app (SPA fallback); sign-out ends the session server-side.
    page.goto(platform.base + "/apps/does-not-exist/logs")
    expect_text(page, "main", "No app named does-not-exist")
    assert [e for e in page.console_errors if "404" not in e] == []  # the missing app's 404, on purpose
    page.console_errors.clear()
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Admin token").wait_for()
    with httpx.Client(base_url=platform.base, cookies=cookie) as c:
        assert c.get("/api/apps").status_code == 401
    assert page.console_errors == []


def sign_in(page: Any, platform: RunningPlatform) -> None:
    page.goto(platform.base + "/")
    page.get_by_label("Admin token").fill(platform.token)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Apps").wait_for()


def test_deploy_watch_timeline_logs_env_restart_rollback_health(
    platform: RunningPlatform, page: Any, test_images: dict[str, str]
) -> None:
    shots = Shots("lifecycle")
    chatty = build_busybox_image(
        "berth-test/web:chatty",
        "chatty v1\n",
        ["/bin/sh", "-c", "echo hello from chatty; echo oops on stderr >&2; exec httpd -f -vv -p 8080 -h /www"],
    )
    sign_in(page, platform)

    # Create: the API's 422 is shown next to the field, then a valid name opens the app page.
    page.get_by_label("Name").fill("Bad_Name")
    page.get_by_role("button", name="Create app").click()
    expect_text(page, ".field-error", "DNS label")
    shots.take(page, "create-422")
    assert [e for e in page.console_errors if "422" not in e] == []  # the invalid name, on purpose
    page.console_errors.clear()
    page.get_by_label("Name").fill("dash")
    page.get_by_role("button", name="Create app").click()
    page.get_by_role("heading", name="dash").wait_for()
    expect_text(page, ".app-head", "created")

    # Deploy from the overview; the timeline fills in live, step by step, with explanations.
    page.get_by_label("Image to deploy").fill(chatty)
    confirm(page, "Deploy")
    page.wait_for_url(re.compile(r"/apps/dash/timeline"))
    page.locator('[data-step="image.resolved"][data-state="done"]').wait_for(timeout=60_000)
    shots.take(page, "timeline-in-progress")
    page.locator('[data-step="proxy.switched"][data-state="done"]').wait_for(timeout=90_000)
    expect_text(page, ".app-head", "running")
    step = page.locator('[data-step="container.created"]')
    assert "slot" in step.inner_text().lower()
    assert re.search(r"took \d", step.inner_text())
    assert "locked down" in step.inner_text()
    shots.take(page, "timeline-live")

    # The site, through its link (the proxy, by hostname).
    page.get_by_role("link", name="Overview").click()
    href = page.get_by_test_id("app-link").get_attribute("href")
    assert href == f"http://dash.{platform.env['BERTH_DOMAIN']}:{platform.proxy_port}"
    site = page.context.new_page()
    site.goto(href)
    assert "chatty v1" in site.inner_text("body")
    site.close()

    # Logs: the container's stdout and stderr tail live; search and stream filter.
    page.get_by_role("link", name="Logs").click()
    expect_text(page, ".vlist", "hello from chatty", timeout=60)
    platform.proxy_get(f"dash.{platform.env['BERTH_DOMAIN']}", "/from-the-test")
    expect_text(page, ".vlist", "from-the-test", timeout=30)
    page.get_by_label("Search logs").fill("oops")
    expect_text(page, ".vlist", "oops on stderr")
    assert "hello from chatty" not in page.locator(".vlist").inner_text()
    page.get_by_label("Search logs").fill("")
    page.get_by_role("button", name="Pause").click()
    platform.proxy_get(f"dash.{platform.env['BERTH_DOMAIN']}", "/while-paused")
    expect_text(page, "[role=status]", "new while paused")
    assert "while-paused" not in page.locator(".vlist").inner_text()
    page.get_by_role("button", name="Resume").click()
    expect_text(page, ".vlist", "while-paused")
    shots.take(page, "logs")

    # Env: add a variable (one change, rolled out), masked by default, revealed on request.
    page.get_by_role("link", name="Env vars").click()
    page.get_by_role("button", name="Add variable").click()
    page.get_by_label("New key", exact=True).fill("GREETING")
    page.get_by_label("Value of GREETING").fill("hello-dashboard")
    page.get_by_role("button", name="Save 1 change").click()
    expect_text(page, "[role=status]", r"set GREETING; rolling out as release v2")
    row = page.locator('tr[data-key="GREETING"]')
    assert "hello-dashboard" not in row.inner_text()
    assert "********" in row.inner_text()
    page.get_by_role("button", name="Reveal values").click()
    expect_text(page, 'tr[data-key="GREETING"]', "hello-dashboard")
    shots.take(page, "env-revealed")
    wait_release_live(platform, "dash", 2)
    env = platform.proxy_get(f"dash.{platform.env['BERTH_DOMAIN']}", "/cgi-bin/env").text
    assert "GREETING=hello-dashboard" in env

    # Restart (confirmed): a new restart release goes live, visible without a reload.
    page.get_by_role("link", name="Overview").click()
    confirm(page, "Restart")
    wait_release_live(platform, "dash", 3)
    page.get_by_role("link", name="Releases").click()
    expect_text(page, 'tr[data-version="3"]', r"restart[\s\S]*live")

    # Deploy v2, then roll back to the previous image from the overview.
    page.get_by_role("link", name="Overview").click()
    page.get_by_label("Image to deploy").fill(test_images["v2"])
    confirm(page, "Deploy")
    wait_release_live(platform, "dash", 4)
    assert platform.proxy_get(f"dash.{platform.env['BERTH_DOMAIN']}").text == "v2\n"
    page.get_by_role("link", name="Overview").click()
    confirm(page, "Roll back")
    page.wait_for_url(re.compile(r"/timeline"))
    wait_release_live(platform, "dash", 5)
    expect_text(page, "#timeline-release", "v5 · rollback")
    page.locator('[data-step="old.stopped"][data-state="done"]').wait_for(timeout=30_000)
    assert platform.proxy_get(f"dash.{platform.env['BERTH_DOMAIN']}").text == "chatty v1\n"
    page.get_by_role("link", name="Releases").click()
    expect_text(page, 'tr[data-version="5"]', r"rollback[\s\S]*live")
    expect_text(page, 'tr[data-version="4"]', "superseded")
    shots.take(page, "releases")

    # Health: configure a check; the chart and uptime fill in live.
    page.get_by_role("link", name="Health").click()
    page.get_by_label("Path").fill("/cgi-bin/health")
    page.get_by_label("Interval (s)").fill("1")
    page.get_by_role("button", name="Save health check").click()
    expect_text(page, "[role=status]", "Saved")
    wait_for(lambda: page.locator(".chart circle.dot-ok").count() >= 3, timeout=60, what="health chart points")
    expect_text(page, ".card", "healthy")
    shots.take(page, "health")

    # Domains: a refused name explains itself inline; an attached one routes at once; detach stops it.
    page.get_by_role("link", name="Domains").click()
    page.get_by_label("Hostname").fill("other.berth.test")
    page.get_by_role("button", name="Attach domain").click()
    expect_text(page, "form", "berth.test")
    assert [e for e in page.console_errors if "409" not in e] == []  # the refused name, on purpose
    page.console_errors.clear()
    page.get_by_label("Hostname").fill("www.dash-example.test")
    page.get_by_role("button", name="Attach domain").click()
    expect_text(page, "table", "www.dash-example.test")
    wait_for(lambda: platform.proxy_get("www.dash-example.test").status_code == 200, what="custom domain routed")
    shots.take(page, "domains")
    confirm(page, "Detach")
    wait_for(lambda: platform.proxy_get("www.dash-example.test").status_code == 404, what="detached domain")

    # Apps list: status, hostname link, image, relative deploy time with the exact one on hover.
    page.get_by_role("link", name="Apps").click()
    row = page.locator('tr[data-app="dash"]')
    expect_text(page, 'tr[data-app="dash"]', r"running[\s\S]*dash\.[\s\S]*sha256:[0-9a-f]{12}[\s\S]*(ago|just now)")
    assert row.locator("time").get_attribute("title")
    shots.take(page, "apps")

    # Phone width: nothing scrolls sideways; the timeline still reads.
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(100)
    assert page.evaluate("document.documentElement.scrollWidth") <= 392
    shots.take(page, "phone-apps")
    page.goto(platform.base + "/apps/dash/timeline")
    page.locator('[data-step="proxy.switched"]').wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= 392
    shots.take(page, "phone-timeline")

    # Keyboard: the first Tab lands on the skip link, which jumps to the content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"

    assert page.console_errors == []
    platform.api.delete("/api/apps/dash")
