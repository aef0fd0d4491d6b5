"""The start-without-aiohttp entry point runs a module as __main__ without aiohttp loaded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_module_runs_without_aiohttp(tmp_path: Path) -> None:
    probe = tmp_path / "probe_mod.py"
    probe.write_text("import sys, nats\nprint(__name__, sys.modules.get('aiohttp'))\n")
    out = subprocess.run(
        [sys.executable, "-m", "berth_shared.start_without_aiohttp", "probe_mod"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "__main__ None"
