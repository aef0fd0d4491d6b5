"""The real `berth` CLI against the real platform: commands, --json, exit codes, no tracebacks."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from berth_testing import RunningPlatform, free_port

pytestmark = pytest.mark.e2e

BERTH = str(Path(sys.executable).parent / "berth")


def berth(p: RunningPlatform, *args: str, token: str | None = None, url: str | None = None, stdin: str = "",
          home: Path | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    env = {
        **os.environ,
        "BERTH_URL": url or p.base,
        "BERTH_TOKEN": p.token if token is None else token,
        "XDG_CONFIG_HOME": str(home or p.home / "cli-config"),
    }
    return subprocess.run([BERTH, *args], env=env, input=stdin, capture_output=True, text=True, timeout=180)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.args, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stdout


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(result))


def fails(result: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert result.returncode == code, (result.args, result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def test_app_lifecycle_through_the_cli(platform: RunningPlatform, test_images: dict[str, str]) -> None:
    p = platform
    created = as_json(berth(p, "apps", "create", "clidemo", "--memory", "128", "--json"))
    assert created["resources"]["memoryMb"] == 128
    assert "clidemo" in [a["name"] for a in as_json(berth(p, "apps", "list", "--json"))]
    assert "clidemo" in ok(berth(p, "apps", "list"))

    out = ok(berth(p, "deploy", "clidemo", "--image", test_images["v1"]))
    for step in ("container.created", "container.started", "health.passed"):
        assert step in out
    assert "Live: http://clidemo.berth.test" in out
    assert p.proxy_get("clidemo.berth.test").text == "v1\n"

    ok(berth(p, "deploy", "clidemo", "--image", test_images["v2"]))
    assert as_json(berth(p, "status", "clidemo", "--json"))["image"] == test_images["v2"]
    assert "running" in ok(berth(p, "status", "clidemo"))

    ok(berth(p, "restart", "clidemo"))
    rolled = as_json(berth(p, "rollback", "clidemo", "--json"))
    assert rolled["status"] == "live" and rolled["kind"] == "rollback"
    assert p.proxy_get("clidemo.berth.test").text == "v1\n"

    releases = as_json(berth(p, "releases", "clidemo", "--json"))
    assert [r["kind"] for r in releases] == ["rollback", "restart", "deploy", "deploy"]
    assert "rollback" in ok(berth(p, "releases", "clidemo"))
    events = as_json(berth(p, "events", "clidemo", "--json"))
    assert any(e["event"].endswith("health.passed") for e in events)

    fails(berth(p, "apps", "delete", "clidemo"), 2, "--yes")
    ok(berth(p, "apps", "delete", "clidemo", "--yes"))
    fails(berth(p, "status", "clidemo"), 5, "not found")


def test_failed_deploy_exits_non_zero_with_the_reason(platform: RunningPlatform) -> None:
    p = platform
    ok(berth(p, "apps", "create", "clifail"))
    result = berth(p, "deploy", "clifail", "--image", "berth-test/nowhere:none")
    assert result.returncode == 1
    assert "image not found" in result.stderr and "Traceback" not in result.stderr


def test_bad_calls_say_what_to_do(platform: RunningPlatform) -> None:
    p = platform
    fails(berth(p, "apps", "list", token="wrong"), 4, "berth login")
    fails(berth(p, "apps", "list", url=f"http://127.0.0.1:{free_port()}"), 3, "cannot reach", "berth up")
    fails(berth(p, "apps", "create", "Bad_Name"), 2, "name:")
    fails(berth(p, "deploy", "ghost", "--image", "x:1"), 5, "ghost")
    ok(berth(p, "apps", "create", "clitwice"))
    fails(berth(p, "apps", "create", "clitwice"), 6, "already exists")
    assert berth(p, "no-such-command").returncode == 2


def test_login_stores_the_token_privately(platform: RunningPlatform, tmp_path: Path) -> None:
    p = platform
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path)}
    env.pop("BERTH_TOKEN", None)
    env.pop("BERTH_URL", None)
    login = subprocess.run(
        [BERTH, "login", "--url", p.base], input=p.token + "\n", env=env, capture_output=True, text=True, timeout=60
    )
    assert login.returncode == 0, login.stderr
    config = tmp_path / "berth" / "config.json"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    listed = subprocess.run([BERTH, "apps", "list", "--json"], env=env, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0 and isinstance(json.loads(listed.stdout), list)
    bad = subprocess.run(
        [BERTH, "login", "--url", p.base, "--token", "nope"], env=env, capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 4


def test_env_health_and_logs_commands(platform: RunningPlatform, test_images: dict[str, str]) -> None:
    p = platform
    ok(berth(p, "apps", "create", "clienv"))
    ok(berth(p, "deploy", "clienv", "--image", test_images["v1"]))

    out = ok(berth(p, "env", "set", "clienv", "API_KEY=s3cr3t-value", "MODE=prod"))
    assert "s3cr3t-value" not in out and "API_KEY" in out
    masked = ok(berth(p, "env", "list", "clienv"))
    assert "API_KEY" in masked and "s3cr3t-value" not in masked
    revealed = as_json(berth(p, "env", "list", "clienv", "--reveal", "--json"))
    assert {i["key"]: i["value"] for i in revealed}["API_KEY"] == "s3cr3t-value"
    ok(berth(p, "env", "set", "clienv", "-", "--no-deploy", stdin="FROM_STDIN=1\n"))
    ok(berth(p, "env", "unset", "clienv", "MODE"))
    keys = [i["key"] for i in as_json(berth(p, "env", "list", "clienv", "--json"))]
    assert sorted(keys) == ["API_KEY", "FROM_STDIN"]
    fails(berth(p, "env", "set", "clienv", "PORT=1"), 2, "PORT")

    report = as_json(berth(p, "health", "clienv", "--path", "/cgi-bin/health", "--interval", "1", "--json"))
    assert report["config"]["path"] == "/cgi-bin/health"
    assert "state" in ok(berth(p, "health", "clienv"))

    lines = as_json(berth(p, "logs", "--platform", "--service", "api", "--json"))
    assert any("api started" in line["message"] for line in lines)


def test_events_follow_and_logs_follow(platform: RunningPlatform, test_images: dict[str, str]) -> None:
    from berth_testing import build_busybox_image, wait_for

    p = platform
    chatty = build_busybox_image(
        "berth-test/web:chatty",
        "chatty\n",
        ["/bin/sh", "-c", "echo hello-out; echo hello-err >&2; exec httpd -f -p 8080 -h /www"],
    )
    ok(berth(p, "apps", "create", "clifollow"))
    env = {**os.environ, "BERTH_URL": p.base, "BERTH_TOKEN": p.token}
    with subprocess.Popen([BERTH, "events", "clifollow", "-f"], env=env, stdout=subprocess.PIPE, text=True) as events:
        try:
            ok(berth(p, "deploy", "clifollow", "--image", chatty))
            lines: list[str] = []
            assert events.stdout is not None
            while not any("old.stopped" in x or "proxy.switched" in x for x in lines):
                lines.append(events.stdout.readline())
            assert any("container.started [slot a]" in x for x in lines), lines
        finally:
            events.kill()

    def logged() -> list[dict[str, Any]]:
        return [i for i in as_json(berth(p, "logs", "clifollow", "--json")) if i["message"].startswith("hello-")]

    items = wait_for(lambda: logged() if len(logged()) == 2 else None, timeout=30, what="container output in logs")
    assert {(i["stream"], i["message"]) for i in items} == {("stdout", "hello-out"), ("stderr", "hello-err")}
    assert [i["message"] for i in as_json(berth(p, "logs", "clifollow", "--grep", "err", "--json"))] == ["hello-err"]
    with subprocess.Popen([BERTH, "logs", "clifollow", "-f"], env=env, stdout=subprocess.PIPE, text=True) as tail:
        try:
            assert tail.stdout is not None
            first = tail.stdout.readline()
            assert "hello-" in first and (" out " in first or " err " in first)
        finally:
            tail.kill()


def test_secrets_rotate_key_keeps_every_value(platform: RunningPlatform, test_images: dict[str, str]) -> None:
    p = platform
    ok(berth(p, "apps", "create", "clirotate"))
    ok(berth(p, "env", "set", "clirotate", "TOKEN=keep-me", "--no-deploy"))
    before = p.api.get("/api/secrets/status").json()
    out = ok(berth(p, "secrets", "rotate-key"))
    assert out.strip() and "keep-me" not in out
    after = p.api.get("/api/secrets/status").json()
    assert after["currentKeyId"] != before["currentKeyId"], (before, after)
    keys = {k["id"]: k for k in after["keys"]}
    assert keys[before["currentKeyId"]]["retiredAt"] is not None and keys[after["currentKeyId"]]["current"]
    assert after["valuesByKeyId"] == {after["currentKeyId"]: before["valuesByKeyId"][before["currentKeyId"]]}
    assert before["currentKeyId"] in out and after["currentKeyId"] in out  # says which key replaced which
    revealed = as_json(berth(p, "env", "list", "clirotate", "--reveal", "--json"))
    assert {i["key"]: i["value"] for i in revealed} == {"TOKEN": "keep-me"}
    ok(berth(p, "deploy", "clirotate", "--image", test_images["v1"]))
    assert "TOKEN=keep-me" in p.proxy_get("clirotate.berth.test", "/cgi-bin/env").text


def test_remaining_flags_show_hard_restart_dotenv_file_and_log_filters(
    platform: RunningPlatform, test_images: dict[str, str], tmp_path: Path
) -> None:
    from berth_testing import build_busybox_image, wait_for

    p = platform
    chatty = build_busybox_image(
        "berth-test/web:chatty",
        "chatty\n",
        ["/bin/sh", "-c", "echo hello-out; echo hello-err >&2; exec httpd -f -p 8080 -h /www"],
    )
    ok(berth(p, "apps", "create", "cliflags"))
    dotenv = tmp_path / "app.env"
    dotenv.write_text("# settings\nexport GREETING='hi there'\n")
    ok(berth(p, "env", "set", "cliflags", "--file", str(dotenv), "--no-deploy"))
    ok(berth(p, "deploy", "cliflags", "--image", chatty))
    shown = as_json(berth(p, "apps", "show", "cliflags", "--json"))
    assert shown["name"] == "cliflags" and shown["status"] == "running"
    assert "cliflags.berth.test" in ok(berth(p, "apps", "show", "cliflags"))
    assert "GREETING=hi there" in p.proxy_get("cliflags.berth.test", "/cgi-bin/env").text

    container_before = p.containers(shown["id"])[0]["Id"]
    assert "in place" in ok(berth(p, "restart", "cliflags", "--hard"))
    wait_for(
        lambda: any(
            s["step"] == "container.restarted"
            for s in p.api.get(f"/api/apps/cliflags/releases/{shown['currentReleaseId']}").json()["steps"]
        ),
        timeout=60,
        what="restarted in place",
    )
    assert p.containers(shown["id"])[0]["Id"] == container_before

    def stderr_lines() -> list[dict[str, Any]]:
        return as_json(berth(p, "logs", "cliflags", "--stream", "stderr", "--since", "10m", "--json"))

    lines = wait_for(lambda: stderr_lines() or None, timeout=30, what="stderr lines")
    assert {i["stream"] for i in lines} == {"stderr"} and all(i["message"] == "hello-err" for i in lines)
