"""The dashboard in real headless Chromium (Debian's ``chromium``, driven by Playwright with
``executable_path``), against the whole platform run by ``berth up``: sign in, create an app
(with the API's 422 shown inline), deploy and watch the internals timeline fill in, open the
site through its link, tail logs live, set and reveal an env var, restart, deploy again and
roll back, configure a health check and see its chart, attach a domain and see its DNS target and
certificate, at phone width too, without console errors; add a webhook and see its deliveries
reach a local receiver, then remove it; a log view that stays usable while 100,000 lines stream
in; a timeline that carries on, without duplicates, when the API process is killed and restarted.
Screenshots go to ``test-artifacts/dashboard/``."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from berth_testing import RunningPlatform, api_error, build_busybox_image, wait_for
from dashboard_testing import Shots, confirm, expect_text, sign_in

pytestmark = pytest.mark.e2e


def release_status(p: RunningPlatform, app: str, version: int) -> str:
    items = p.api.get(f"/api/apps/{app}/releases").json()["items"]
    return next((r["status"] for r in items if r["version"] == version), "absent")


def wait_release_live(p: RunningPlatform, app: str, version: int) -> None:
    def live() -> bool:
        status = release_status(p, app, version)
        assert status != "failed", p.api.get(f"/api/apps/{app}/releases").json()["items"][0]["reason"]
        return status == "live"

    wait_for(live, timeout=90, what=f"{app} v{version} live")


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
        forged = api_error(c.post("/api/apps", json={"name": "forged"}), 403, "forbidden")
        assert "x-berth-csrf" in forged["message"].lower()
        bad = api_error(
            c.post("/api/apps", json={"name": "Bad"}, headers={"X-Berth-CSRF": "1"}), 422, "validation_failed"
        )
        assert bad["details"][0]["field"] == "name"

    # Deep links load the app (SPA fallback); sign-out ends the session server-side.
    page.goto(platform.base + "/apps/does-not-exist/logs")
    expect_text(page, "main", "No app named does-not-exist")
    assert [e for e in page.console_errors if "404" not in e] == []  # the missing app's 404, on purpose
    page.console_errors.clear()
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Admin token").wait_for()
    with httpx.Client(base_url=platform.base, cookies=cookie) as c:
        api_error(c.get("/api/apps"), 401, "unauthorized")
    assert page.console_errors == []


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
    # Where DNS must point, why a local name needs no verification, and the certificate's state,
    # which the tab refreshes by itself until Caddy's internal CA has issued it.
    domain_row = 'tr[data-domain="www.dash-example.test"]'
    expect_text(page, f"{domain_row} td.dns", f"CNAME www.dash-example.test → dash.{platform.env['BERTH_DOMAIN']}")
    expect_text(page, f"{domain_row} td.verification", "^not needed: local name, internal CA$")
    expect_text(page, f"{domain_row} td.tls", r"TLS issued[\s\S]*by Caddy's internal CA", timeout=60)
    shots.take(page, "domains")
    confirm(page, "Detach")
    wait_for(lambda: platform.proxy_get("www.dash-example.test").status_code == 404, what="detached domain")
    # A public name that does not lead here (no DNS on this machine): no CA is asked, and the
    # tab says why, in full, while the router keeps retrying.
    page.get_by_label("Hostname").fill("nowhere.dash-example.com")
    page.get_by_role("button", name="Attach domain").click()
    public_row = 'tr[data-domain="nowhere.dash-example.com"]'
    expect_text(page, f"{public_row} td.verification", "waiting for DNS")
    expect_text(page, f"{public_row} td.tls", r"failed[\s\S]*DNS: [\s\S]*nowhere\.dash-example\.com", timeout=60)
    shots.take(page, "domains-failed")
    confirm(page, "Detach")
    page.locator(public_row).wait_for(state="detached")

    # Apps list: status, hostname link, image, relative deploy time with the exact one on hover.
    page.get_by_role("link", name="Apps").click()
    row = page.locator('tr[data-app="dash"]')
    expect_text(page, 'tr[data-app="dash"]', r"running[\s\S]*dash\.[\s\S]*sha256:[0-9a-f]{12}[\s\S]*(ago|just now)")
    assert row.locator("time").get_attribute("title")
    shots.take(page, "apps")

    # Phone width: nothing scrolls sideways; the timeline still reads.
    page.set_viewport_size({"width": 390, "height": 844})
    wait_for(lambda: page.evaluate("window.innerWidth") == 390, what="the phone-width layout")
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


# -- webhooks --


class HookSink:
    """Webhook posts to 127.0.0.1, kept by path; a path in ``refuse_first`` answers its first post
    with a 500 (so the retry shows)."""

    def __init__(self, refuse_first: set[str]) -> None:
        self.posts: dict[str, list[tuple[str, bytes]]] = {}
        self.refuse_first = refuse_first
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                got = sink.posts.setdefault(self.path, [])
                got.append((self.headers["X-Berth-Signature"], body))
                self.send_response(500 if self.path in sink.refuse_first and len(got) == 1 else 204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def alerts(self, path: str, secret: str, app_id: str) -> list[dict[str, Any]]:
        """The signed alerts about ``app_id`` posted to ``path`` (every signature checked)."""
        out = []
        for signature, body in list(self.posts.get(path, [])):
            assert signature == "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            alert = json.loads(body)
            if alert["app"]["id"] == app_id:
                out.append(alert)
        return out


def set_health(p: RunningPlatform, app_id: str, to: str) -> None:
    """Make the live container's health check fail (``sick``) or pass (``well``), straight to its
    bridge address."""
    (c,) = [c for c in p.containers(app_id) if c["State"]["Running"]]
    (net,) = c["NetworkSettings"]["Networks"].values()
    assert httpx.get(f"http://{net['IPAddress']}:8080/cgi-bin/{to}", timeout=5).status_code == 200


def test_webhooks_tab_adds_a_webhook_shows_its_deliveries_and_removes_it(
    platform: RunningPlatform, page: Any, test_images: dict[str, str]
) -> None:
    shots = Shots("webhooks")
    check = {"path": "/cgi-bin/health", "intervalSeconds": 1, "timeoutSeconds": 1, "unhealthyThreshold": 2}
    app = platform.api.post("/api/apps", json={"name": "dash-hooks", "healthCheck": {**check, "startPeriodSeconds": 0}})
    assert app.status_code == 201, app.text
    app_id = app.json()["id"]
    assert platform.api.post("/api/apps/dash-hooks/deploy", json={"image": test_images["v1"]}).status_code == 202
    wait_release_live(platform, "dash-hooks", 1)
    wait_for(
        lambda: platform.api.get("/api/apps/dash-hooks/health").json()["state"] == "healthy", what="dash-hooks healthy"
    )
    sink = HookSink(refuse_first={"/ui"})
    witness: dict[str, Any] = {}
    try:
        # Add a webhook in the tab: the signing secret is shown once.
        sign_in(page, platform)
        page.goto(platform.base + "/apps/dash-hooks/webhooks")
        page.get_by_label("URL").fill(sink.url("/ui"))
        assert page.get_by_label("health.unhealthy").is_checked() and page.get_by_label("health.recovered").is_checked()
        page.get_by_role("button", name="Add webhook").click()
        expect_text(page, "[role=status]", r"Signing secret \(shown once\): \S{16,}")
        secret = page.locator("[role=status] code").inner_text().strip()
        card = f'li[data-url="{sink.url("/ui")}"]'
        expect_text(page, card, "health.unhealthy, health.recovered[\\s\\S]*No deliveries yet")
        shots.take(page, "added")

        # The app turns unhealthy: the alert reaches the receiver (signed with the secret shown),
        # the first attempt's 500 is retried, and the tab shows the delivery by itself.
        set_health(platform, app_id, "sick")
        wait_for(lambda: len(sink.alerts("/ui", secret, app_id)) == 2, timeout=60, what="the alert, retried once")
        first, retried = sink.alerts("/ui", secret, app_id)
        assert first == retried and first["event"] == "health.unhealthy"
        assert first["app"] == {"id": app_id, "name": "dash-hooks"} and "HTTP 500" in first["reason"]
        unhealthy = f'{card} li[data-event="health.unhealthy"][data-status="delivered"]'
        expect_text(page, unhealthy, r"delivered[\s\S]*dash-hooks \(this app\)[\s\S]*after 2 attempts \(HTTP 204\)")
        shots.take(page, "delivered")

        set_health(platform, app_id, "well")
        expect_text(page, f'{card} li[data-event="health.recovered"]', r"delivered[\s\S]*after 1 attempt \(HTTP 204\)")
        events = [a["event"] for a in sink.alerts("/ui", secret, app_id)]
        assert events == ["health.unhealthy", "health.unhealthy", "health.recovered"]

        # Remove it in the tab: gone from the list and from the API, and it gets no more alerts (a
        # second webhook, added by the API, sees the next one).
        page.locator(card).get_by_role("button", name="Delete").click()
        page.locator("dialog[open]").get_by_role("button", name="Delete").click()
        page.locator(card).wait_for(state="detached")
        assert sink.url("/ui") not in {w["url"] for w in platform.api.get("/api/webhooks").json()["items"]}
        shots.take(page, "removed")
        witness = platform.api.post("/api/webhooks", json={"url": sink.url("/witness"), "events": ["health.unhealthy"]})
        witness = witness.json()
        set_health(platform, app_id, "sick")
        wait_for(lambda: sink.alerts("/witness", witness["secret"], app_id), timeout=60, what="the witness's alert")
        assert len(sink.alerts("/ui", secret, app_id)) == 3
        assert page.console_errors == []
    finally:
        sink.server.shutdown()
        sink.server.server_close()
        if witness:
            platform.api.delete(f"/api/webhooks/{witness['id']}")
        platform.api.delete("/api/apps/dash-hooks")


# -- the log view under a flood --

FLOOD_LINES = 100_000
# Serves HTTP at once, then prints 100,000 numbered lines in bursts of 500 (about 5,000 a second,
# so they stream for a while), then idles until stopped.
FLOOD = (
    "httpd -p 8080 -h /www; i=0; "
    f"while [ $i -lt {FLOOD_LINES // 500} ]; do "
    "awk -v b=$i 'BEGIN { for (j = 1; j <= 500; j++) printf \"flood line %06d\\n\", b * 500 + j }'; "
    "i=$((i + 1)); usleep 100000; done; "
    "trap 'exit 0' TERM; while :; do sleep 1; done"
)


def log_count(page: Any) -> int:
    return int(page.locator(".vlist").get_attribute("data-count") or 0)


def rendered_rows(page: Any) -> int:
    return int(page.locator(".vlist .vrow").count())


def test_logs_tab_stays_usable_while_100000_lines_stream_in(platform: RunningPlatform, page: Any) -> None:
    shots = Shots("logs-flood")
    image = build_busybox_image("berth-test/web:flood", "flood\n", ["/bin/sh", "-c", FLOOD])
    assert platform.api.post("/api/apps", json={"name": "dash-flood"}).status_code == 201
    sign_in(page, platform)
    page.goto(platform.base + "/apps/dash-flood/logs")
    expect_text(page, "[role=status]", r"^live · ")  # (the proxy may already have said something)
    assert platform.api.post("/api/apps/dash-flood/deploy", json={"image": image}).status_code == 202

    # While the lines stream in, the page answers clicks: pause freezes the view and counts what
    # arrives meanwhile, resume shows it. Only the rows in view are in the DOM.
    wait_for(lambda: log_count(page) >= 5_000, timeout=90, interval=0.1, what="lines streaming in")
    page.get_by_role("button", name="Pause").click()
    page.get_by_role("button", name="Resume").wait_for()
    frozen = log_count(page)
    assert frozen < FLOOD_LINES, "the click was answered only after every line had arrived"
    expect_text(page, "[role=status]", r"[\d,]+ new while paused")
    assert log_count(page) == frozen
    shots.take(page, "paused")
    page.get_by_role("button", name="Resume").click()
    page.get_by_role("button", name="Pause").wait_for()
    wait_for(lambda: log_count(page) > frozen, what="the view to move on after resuming")
    assert rendered_rows(page) <= 60

    # All of them arrive; the view follows the newest line with the same few rows rendered. The
    # view holds the newest 100,000 lines (with the proxy's few about the app, the oldest go).
    expect_text(page, ".vlist", f"flood line {FLOOD_LINES:06d}", timeout=120)
    expect_text(page, "[role=status]", r"^live · 100,000 lines")
    assert log_count(page) == FLOOD_LINES
    assert rendered_rows(page) <= 60
    shots.take(page, "newest")

    # Search finds one line among them all.
    page.get_by_label("Search logs").fill("flood line 054321")
    wait_for(lambda: log_count(page) == 1, what="one matching line")
    expect_text(page, ".vlist", "^[\\s\\S]*flood line 054321[\\s\\S]*$")
    shots.take(page, "search")
    page.get_by_label("Search logs").fill("")
    wait_for(lambda: log_count(page) == FLOOD_LINES, what="every line again")

    # Scrolling back (Home on the focused list) reaches the oldest lines, then "Follow newest" returns.
    page.locator(".vlist").focus()
    page.keyboard.press("Home")
    expect_text(page, ".vlist", "flood line 0000")
    dropped = re.search(r"oldest ([\d,]+) dropped", page.locator("[role=status]").inner_text())
    dropped_count = int(dropped.group(1).replace(",", "")) if dropped else 0
    oldest = min(int(n) for n in re.findall(r"flood line (\d{6})", page.locator(".vlist").inner_text()))
    assert oldest <= dropped_count + 1, f"the top shows flood line {oldest}, but only {dropped_count} were dropped"
    assert "flood line 100000" not in page.locator(".vlist").inner_text()
    assert rendered_rows(page) <= 60
    shots.take(page, "oldest")
    page.get_by_role("button", name="Follow newest").click()
    expect_text(page, ".vlist", "flood line 100000")
    assert "gap:" not in page.locator("[role=status]").inner_text()  # no lines skipped
    assert page.console_errors == []
    platform.api.delete("/api/apps/dash-flood")


# -- the timeline across an API restart --

# Records, in the page, every step and history event each EventSource delivers (what the wire
# carried, before the page merges anything), and every stream opened.
RECORD_STREAMS = """
(() => {
  const Native = window.EventSource;
  const seen = (window.__berthStreams = { opened: [], entries: [] });
  window.EventSource = class extends Native {
    constructor(url, init) {
      super(url, init);
      seen.opened.push(String(url));
      for (const name of ["step", "history"]) {
        this.addEventListener(name, (e) => {
          const d = JSON.parse(e.data);
          seen.entries.push({ name, key: d.key, releaseId: d.releaseId, step: d.step || d.kind });
        });
      }
    }
  };
})();
"""


def test_timeline_keeps_updating_without_duplicates_across_an_api_restart(
    platform: RunningPlatform, page: Any, test_images: dict[str, str]
) -> None:
    shots = Shots("api-restart")
    assert platform.api.post("/api/apps", json={"name": "dash-resume"}).status_code == 201
    assert platform.api.post("/api/apps/dash-resume/deploy", json={"image": test_images["v1"]}).status_code == 202
    wait_release_live(platform, "dash-resume", 1)
    page.add_init_script(RECORD_STREAMS)
    sign_in(page, platform)
    page.goto(platform.base + "/apps/dash-resume/timeline")
    page.locator('[data-step="proxy.switched"][data-state="done"]').wait_for()
    expect_text(page, ".live-dot", "^live$")

    # A second deploy; once its container has started, the API process is killed mid-rollout.
    second = platform.api.post("/api/apps/dash-resume/deploy", json={"image": test_images["v2"]}).json()
    expect_text(page, "#timeline-release", "v2")
    page.locator('[data-step="container.started"][data-state="done"]').wait_for(timeout=60_000)
    api_pid = platform.service_pid("berth_api")
    os.kill(api_pid, signal.SIGKILL)
    expect_text(page, ".live-dot", "reconnecting")
    shots.take(page, "api-down")

    # The supervisor restarts it; the page reconnects by itself and the rest of the rollout (which
    # the runtime agent carried on with) fills in: each step once.
    wait_for(lambda: platform.service_pid("berth_api") != api_pid, what="the API restarted")
    expect_text(page, ".live-dot", "^live$", timeout=60)
    page.locator('[data-step="old.stopped"][data-state="done"]').wait_for(timeout=60_000)
    expect_text(page, "#timeline-release", "v2 · deploy")
    shots.take(page, "resumed")
    rows = page.locator("ol.timeline li").evaluate_all("els => els.map(e => [e.dataset.step, e.dataset.state])")
    assert len(rows) == len({step for step, _ in rows}), rows
    assert {state for _, state in rows} == {"done"}, rows
    history = page.locator("ul.history li").all_inner_texts()
    assert len(history) == len(set(history)), history

    # On the wire: across the reconnect every step of v2 the API recorded arrived exactly once, and
    # nothing was sent twice. (The browser reconnects by itself with Last-Event-ID; a stream the
    # page had to open again would resume from the same id, in its URL.)
    wire = page.evaluate("window.__berthStreams")
    assert all("since=" in url for url in wire["opened"][1:]), wire["opened"]
    keys = [e["key"] for e in wire["entries"]]
    assert len(keys) == len(set(keys)), "an entry was sent twice"
    recorded = platform.api.get(f"/api/apps/dash-resume/releases/{second['id']}").json()["steps"]
    received = [e["step"] for e in wire["entries"] if e["name"] == "step" and e["releaseId"] == second["id"]]
    assert sorted(received) == sorted(s["step"] for s in recorded)
    # The only console errors: the browser's notes on the stream the killed process cut off.
    outage = ("net::ERR_INCOMPLETE_CHUNKED_ENCODING", "net::ERR_CONNECTION_REFUSED")
    assert [e for e in page.console_errors if not any(o in e for o in outage)] == []
    platform.api.delete("/api/apps/dash-resume")


def test_tokens_page_creates_a_scoped_token_shown_once_and_revokes_it(platform: RunningPlatform, page: Any) -> None:
    p = platform
    app = f"tok-{os.urandom(3).hex()}"
    assert p.api.post("/api/apps", json={"name": app}).status_code == 201
    name = f"dash-ci-{os.urandom(3).hex()}"
    shots = Shots("tokens")
    sign_in(page, p)
    page.get_by_role("link", name="Tokens").click()
    page.get_by_role("heading", name="Tokens", exact=True).wait_for()
    expect_text(page, "table.tokens", r"admin[\s\S]*the admin token")

    page.get_by_label("Name").fill(name)
    page.get_by_label("Scope").select_option("deploy")
    page.get_by_label("Apps").fill(app)
    page.get_by_label("Expires").select_option(label="in 30 days")
    page.get_by_role("button", name="Create token").click()
    value = page.get_by_test_id("token-value").inner_text().strip()
    assert value.startswith("berth_")
    expect_text(page, f"tr[data-token='{name}']", rf"deploy[\s\S]*deploys {app}[\s\S]*in 29 days")
    shots.take(page, "created")

    # The value works, within its scope only.
    with httpx.Client(base_url=p.base, headers={"Authorization": f"Bearer {value}"}, timeout=30) as ci:
        assert ci.get("/api/apps").status_code == 200
        assert ci.post(f"/api/apps/{app}/env", json={"vars": {"X": "1"}}).json()["error"]["code"] == "forbidden"
    page.get_by_role("button", name="Done").click()
    assert page.get_by_test_id("token-value").count() == 0  # shown once: gone from the page

    page.locator(f"tr[data-token='{name}']").get_by_role("button", name="Revoke").click()
    page.locator("dialog[open]").get_by_role("button", name="Revoke").click()
    page.locator(f"tr[data-token='{name}']").wait_for(state="detached")
    with httpx.Client(base_url=p.base, headers={"Authorization": f"Bearer {value}"}, timeout=30) as ci:
        api_error(ci.get("/api/apps"), 401, "unauthorized")
    shots.take(page, "revoked")
    assert page.console_errors == []
