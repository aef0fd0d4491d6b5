"""Platform backup and restore, end to end through the real CLI: `berth platform backup` of a
running platform, its $BERTH_HOME wiped and its containers and networks gone (a fresh host with
the same engine), `berth platform restore` with the old host's master key, `berth up`: the apps
serve through the proxy again with their env values, the admin token still works, and an app
whose image is gone from the host is listed with the reason. A wrong key, or no key, fails
before anything is written."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import tarfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from berth_cli.launcher import backup_archive, backup_keys
from berth_testing import (
    BERTH,
    RunningPlatform,
    build_busybox_image,
    start_platform,
    stop_platform,
    wait_for,
)

pytestmark = pytest.mark.e2e

SECRET = "restore_" + uuid.uuid4().hex + "_SECRET"


def berth(p_env: dict[str, str], *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in p_env.items() if k != "BERTH_MASTER_KEY"}
    return subprocess.run([BERTH, *args], env={**env, **extra}, capture_output=True, text=True, timeout=600)


def deploy_live(p: RunningPlatform, app: str, image: str) -> None:
    assert p.api.post("/api/apps", json={"name": app, "stopTimeoutSeconds": 2}).status_code == 201
    response = p.api.post(f"/api/apps/{app}/deploy", json={"image": image})
    assert response.status_code == 202, response.text
    release_id = response.json()["id"]

    def live() -> bool:
        r = p.api.get(f"/api/apps/{app}/releases/{release_id}").json()
        assert r["status"] != "failed", r.get("reason")
        return bool(r["status"] == "live")

    wait_for(live, timeout=180, what=f"{app} live")


def serves(p: RunningPlatform, app: str, path: str = "/") -> str:
    response = p.proxy_get(f"{app}.berth.test", path)
    return response.text if response.status_code == 200 else ""


def set_env_live(p: RunningPlatform, app: str, vars: dict[str, str]) -> None:
    response = p.api.post(f"/api/apps/{app}/env", json={"vars": vars})
    assert response.status_code == 200, response.text
    wait_for(lambda: all(f"{k}={v}" in serves(p, app, "/cgi-bin/env") for k, v in vars.items()), timeout=180)


def opened_members(path: Path, keyring: Path) -> dict[str, bytes]:
    keys = backup_keys.load({}, keyring)
    with open(path, "rb") as f:
        header = backup_archive.read_header(f)
        reader = io.BufferedReader(backup_archive.OpeningReader(f, keys.key_for(header.key_id), header))
        with tarfile.open(fileobj=reader, mode="r|") as tar:
            return {m.name: (tar.extractfile(m) or io.BytesIO()).read() for m in tar if m.isfile()}


def test_backup_wipe_restore_brings_apps_back_with_their_env(tmp_path: Path, test_images: dict[str, str]) -> None:
    home = tmp_path / "home"
    home.mkdir()
    gone_image = build_busybox_image(f"berth-test/restore-gone:{uuid.uuid4().hex[:8]}", "gone\n")
    p = start_platform(home)
    restarted: RunningPlatform | None = None
    try:
        deploy_live(p, "keep", test_images["v1"])
        set_env_live(p, "keep", {"SECRET_VALUE": SECRET})
        deploy_live(p, "gone", gone_image)
        token = p.token
        master = (home / "master.key").read_text()
        instance = p.instance

        archive = tmp_path / "platform.berthbak"
        made = berth(p.env, "platform", "backup", str(archive), "--json")
        assert made.returncode == 0, made.stderr
        assert json.loads(made.stdout)["path"] == str(archive)
        # The file never holds the master key, and nothing in it is readable without it.
        raw = archive.read_bytes()
        secrets_in_clear = [token, SECRET, *(k["key"] for k in json.loads(master)["keys"])]
        assert not any(s.encode() in raw for s in secrets_in_clear)
        members = opened_members(archive, home / "master.key")
        assert {"manifest.json", "database.dump", "home/credentials.json", "home/admin-token"} <= set(members)
        assert not any(name.endswith("master.key") for name in members)
        assert not any(base64.b64decode(k["key"]) in b for k in json.loads(master)["keys"] for b in members.values())
        assert any(name.startswith("home/caddy/data/caddy/pki/authorities/local/") for name in members)

        # Restoring over a live platform's home is refused; so is a wrong key, before touching anything.
        over = berth(p.env, "platform", "restore", str(archive))
        assert over.returncode == 1 and "already holds a platform" in over.stderr
        elsewhere = tmp_path / "elsewhere"
        wrong_key = base64.b64encode(os.urandom(32)).decode()
        wrong = berth(p.env, "platform", "restore", str(archive), BERTH_HOME=str(elsewhere), BERTH_MASTER_KEY=wrong_key)
        assert wrong.returncode == 1, wrong.stdout
        assert "sealed with master key" in wrong.stderr and "does not hold" in wrong.stderr
        no_key = berth(p.env, "platform", "restore", str(archive), BERTH_HOME=str(elsewhere))
        assert no_key.returncode == 1 and "no master key" in no_key.stderr
        assert not elsewhere.exists() or not any(elsewhere.iterdir())

        # A fresh host: the platform stopped, its containers and networks removed, its home wiped,
        # and one app's image gone from the engine. The admin keeps the master key apart.
        kept_key = tmp_path / "master.key.copy"
        kept_key.write_text(master)
        stop_platform(p)
        # A stopped platform is backed up too (the command starts its Postgres for itself).
        offline = tmp_path / "offline.berthbak"
        made_offline = berth(p.env, "platform", "backup", str(offline))
        assert made_offline.returncode == 0, made_offline.stderr
        offline_members = opened_members(offline, home / "master.key")
        assert set(offline_members) == set(members) and len(offline_members["database.dump"]) > 1000
        shutil.rmtree(home)
        subprocess.run(["docker", "rmi", "-f", gone_image], check=True, capture_output=True)

        done = berth(p.env, "platform", "restore", str(archive), "--keyring", str(kept_key), "--json")
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        outcome: dict[str, Any] = {a["app"]: a for a in report["apps"]}
        assert outcome["keep"]["outcome"] == "present"
        assert outcome["gone"]["outcome"] == "lost"
        assert gone_image in outcome["gone"]["why"] and "could not be pulled" in outcome["gone"]["why"]
        assert report["warnings"] == []
        assert (home / "master.key").read_text() == master
        assert json.loads((home / "credentials.json").read_text())["instance"] == instance

        restarted = start_platform(home, BERTH_SUBNET_POOL=p.env["BERTH_SUBNET_POOL"])
        assert restarted.token == token
        assert restarted.api.get("/api/apps/keep").status_code == 200
        wait_for(lambda: serves(restarted, "keep") == "v1\n", timeout=180, what="keep to serve again")
        assert f"SECRET_VALUE={SECRET}" in serves(restarted, "keep", "/cgi-bin/env")
        # One container for it, in the slot of its live release: nothing duplicated.
        keep_id = restarted.api.get("/api/apps/keep").json()["id"]
        running = [c for c in restarted.containers(keep_id) if c["State"]["Running"]]
        assert len(running) == 1
    finally:
        if restarted is not None:
            stop_platform(restarted)
        elif p.proc.poll() is None:
            stop_platform(p)
