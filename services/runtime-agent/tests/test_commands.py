from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from berth_agent.commands import RETRY_DELAY_SECONDS, handle
from berth_shared.contracts.base import encode
from berth_shared.contracts.releases import ReconcileApp
from berth_shared.errors import BusUnavailable, EngineUnavailable


@dataclass
class FakeMsg:
    """Records how a command was settled (the nats Msg methods the consumer uses)."""

    data: bytes
    subject: str = "berth.cmd.agent.h1.reconcile"
    settled: list[tuple[str, Any]] = field(default_factory=list)

    async def ack(self) -> None:
        self.settled.append(("ack", None))

    async def nak(self, delay: float | None = None) -> None:
        self.settled.append(("nak", delay))

    async def term(self) -> None:
        self.settled.append(("term", None))

    async def in_progress(self) -> None:
        self.settled.append(("in_progress", None))


def command(app_id: str = "app1") -> FakeMsg:
    return FakeMsg(encode(ReconcileApp(app_id=app_id)))


async def test_acked_after_the_reconcile_finished() -> None:
    seen: list[str] = []

    async def reconcile(app_id: str) -> None:
        seen.append(app_id)

    msg = command()
    await handle(msg, reconcile)  # type: ignore[arg-type]
    assert seen == ["app1"] and msg.settled == [("ack", None)]


async def test_unreachable_engine_or_api_naks_with_a_delay() -> None:
    for error in (EngineUnavailable("docker down"), BusUnavailable("api down")):

        async def reconcile(app_id: str, error: Exception = error) -> None:
            raise error

        msg = command()
        await handle(msg, reconcile)  # type: ignore[arg-type]
        assert msg.settled == [("nak", RETRY_DELAY_SECONDS)]


async def test_undecodable_command_is_terminated() -> None:
    async def reconcile(app_id: str) -> None:
        raise AssertionError("must not run")

    msg = FakeMsg(b"not json")
    await handle(msg, reconcile)  # type: ignore[arg-type]
    assert msg.settled == [("term", None)]
