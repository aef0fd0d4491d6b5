"""`berth tokens create|list|revoke` with the real CLI against the real platform: the value is
printed once, a scoped token's refusals exit 7 with one line, a revoked token exits 4."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from berth_testing import RunningPlatform

pytestmark = pytest.mark.e2e

BERTH = str(Path(sys.executable).parent / "berth")


def berth(p: RunningPlatform, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "BERTH_URL": p.base,
        "BERTH_TOKEN": token or p.token,
        "XDG_CONFIG_HOME": str(p.home / "cli-config-tokens"),
    }
    return subprocess.run([BERTH, *args], env=env, capture_output=True, text=True, timeout=120)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.args, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stdout


def fails(result: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert result.returncode == code, (result.args, result.returncode, result.stdout, result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def test_tokens_create_list_revoke_through_the_cli(platform: RunningPlatform) -> None:
    p = platform
    app = f"clitok-{uuid.uuid4().hex[:6]}"
    ok(berth(p, "apps", "create", app))
    name = f"ci-{uuid.uuid4().hex[:6]}"

    value = ok(berth(p, "tokens", "create", name, "--scope", "deploy", "--app", app, "--expires", "30d")).strip()
    assert value.startswith("berth_") and "\n" not in value  # stdout is the value alone

    listed = {t["name"]: t for t in json.loads(ok(berth(p, "tokens", "list", "--json")))}
    mine = listed[name]
    assert mine["scope"] == "deploy" and mine["apps"] == [app]
    expires = datetime.fromisoformat(mine["expiresAt"].replace("Z", "+00:00"))
    assert timedelta(days=29) < expires - datetime.now(UTC) <= timedelta(days=30)
    table = ok(berth(p, "tokens", "list"))
    assert name in table and value not in table and "the admin token" in table

    # What the token may not do exits 7 with the reason on one line; what it may, works.
    fails(berth(p, "env", "set", app, "X=1", token=value), 7, "not allowed", name)
    fails(berth(p, "tokens", "list", token=value), 7, "admin")
    assert app in ok(berth(p, "apps", "list", token=value))

    fails(berth(p, "tokens", "create", "bad", "--scope", "read", "--expires", "soon"), 2, "--expires")
    fails(berth(p, "tokens", "create", name, "--scope", "read"), 6, name)

    revoked = ok(berth(p, "tokens", "revoke", name))
    assert f"revoked token {name}" in revoked
    fails(berth(p, "apps", "list", token=value), 4, "refused")
    fails(berth(p, "tokens", "revoke", name), 5, name)
