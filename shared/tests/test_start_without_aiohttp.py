"""The start-without-aiohttp entry point runs a module as __main__ without aiohttp (or pydantic.v1)
loaded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run_probe(tmp_path: Path, module: str) -> str:
    """What ``module`` (in ``tmp_path``) prints when started through the entry point."""
    return subprocess.run(
        [sys.executable, "-m", "berth_shared.start_without_aiohttp", module],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_module_runs_without_aiohttp(tmp_path: Path) -> None:
    probe = tmp_path / "probe_mod.py"
    probe.write_text("import sys, nats\nprint(__name__, sys.modules.get('aiohttp'))\n")
    assert run_probe(tmp_path, "probe_mod") == "__main__ None"


def test_fastapi_routes_work_without_pydantic_v1(tmp_path: Path) -> None:
    """FastAPI asks whether a route's model is a Pydantic 1 model; without pydantic.v1 the
    answer is no and the route still validates its body."""
    probe = tmp_path / "probe_api.py"
    probe.write_text(
        "import sys, pydantic, fastapi\n"
        "from fastapi.testclient import TestClient\n"
        "class Body(pydantic.BaseModel):\n"
        "    name: str\n"
        "app = fastapi.FastAPI()\n"
        "@app.post('/x')\n"
        "def x(body: Body) -> dict[str, str]:\n"
        "    return {'name': body.name}\n"
        "c = TestClient(app)\n"
        "print(c.post('/x', json={'name': 'a'}).json(), c.post('/x', json={}).status_code,"
        " sys.modules.get('pydantic.v1'))\n"
    )
    assert run_probe(tmp_path, "probe_api") == "{'name': 'a'} 422 None"
