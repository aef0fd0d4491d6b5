"""`berth service install|uninstall --root DIR`: the real CLI writes and enables the unit under a
temporary root, systemd itself checks it, and uninstall takes it all away. Never on the real /."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

BERTH = str(Path(sys.executable).parent / "berth")


def berth(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BERTH, *args], capture_output=True, text=True, env=env, timeout=60)


def verify(unit: Path) -> str:
    """systemd's own check of a unit file: its complaints about the file, or ''."""
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if unit.name in line]
    assert result.returncode == 0 or complaints, result.stderr
    return "\n".join(complaints)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BERTH_")}
    return {**clean, "BERTH_HOME": str(tmp_path / "home"), "BERTH_DOMAIN": "apps.example.com", "BERTH_TOKEN": "t"}


def test_install_writes_a_unit_systemd_accepts_and_enables_it_for_boot(tmp_path: Path, env: dict[str, str]) -> None:
    root = tmp_path / "root"
    done = berth("service", "install", "--root", str(root), env=env)
    assert done.returncode == 0, done.stderr
    unit = root / "etc/systemd/system/berth.service"
    assert verify(unit) == ""
    text = unit.read_text()
    assert f"ExecStart={BERTH} up" in text
    # Enabled: started at boot by multi-user.target.
    wanted = root / "etc/systemd/system/multi-user.target.wants/berth.service"
    assert wanted.is_symlink()
    env_file = root / "etc/berth/berth.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    lines = env_file.read_text().splitlines()
    assert f'BERTH_HOME="{tmp_path / "home"}"' in lines
    assert 'BERTH_DOMAIN="apps.example.com"' in lines
    assert not any(line.startswith("BERTH_TOKEN") for line in lines)
    assert "nothing was started" in done.stdout

    gone = berth("service", "uninstall", "--root", str(root), env=env)
    assert gone.returncode == 0, gone.stderr
    assert not unit.exists() and not wanted.exists() and not wanted.is_symlink() and not env_file.exists()
    again = berth("service", "uninstall", "--root", str(root), env=env)
    assert again.returncode == 5 and "not installed" in again.stderr


def test_the_systemd_check_catches_a_broken_unit(tmp_path: Path) -> None:
    """The check above is not blind: systemd names a unit's bad line."""
    unit = tmp_path / "berth.service"
    unit.write_text("[Service]\nExecStart=/bin/true\nKillMode=sometimes\n")
    assert "KillMode" in verify(unit) or "kill mode" in verify(unit)


def test_now_cannot_be_combined_with_a_root(tmp_path: Path, env: dict[str, str]) -> None:
    done = berth("service", "install", "--root", str(tmp_path), "--now", env=env)
    assert done.returncode == 2 and "--now" in done.stderr
    assert not (tmp_path / "etc").exists()
