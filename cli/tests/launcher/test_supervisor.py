"""The supervisor restarts a crashed child with backoff, reports it, and stops children cleanly."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from berth_cli.launcher.supervisor import ChildSpec, Supervisor, backoff_delay


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff_delay(n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert backoff_delay(20) == 30.0


async def _until(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


async def test_crashed_child_is_restarted_and_reported(tmp_path: Path) -> None:
    marker = tmp_path / "runs"
    script = (
        f"import pathlib,sys; p=pathlib.Path({str(marker)!r}); "
        "p.write_text(p.read_text()+'x' if p.exists() else 'x'); sys.exit(7)"
    )
    events: list[str] = []
    supervisor = Supervisor(events.append)
    await supervisor.start(ChildSpec(name="flaky", argv=[sys.executable, "-c", script]))
    try:
        await _until(lambda: marker.exists() and len(marker.read_text()) >= 3)
    finally:
        await supervisor.stop_all()
    assert any("flaky exited with code 7; restarting in 0.5s" in e for e in events)
    assert any("restarting in 1.0s" in e for e in events)


async def test_stop_all_terminates_children(tmp_path: Path) -> None:
    supervisor = Supervisor(lambda _: None)
    child = await supervisor.start(ChildSpec(name="sleeper", argv=["sleep", "60"], stop_timeout=5))
    await supervisor.stop_all()
    assert child.proc is not None and child.proc.returncode is not None
