"""``python -m berth_agent``: the runtime agent as started by ``berth up``."""

from __future__ import annotations

from berth_shared.service import run
from berth_shared.settings import Settings
from berth_shared.streams import agent_command_consumer

from berth_agent.entry import MIGRATIONS, main


def cli() -> None:
    host = Settings.from_env().host_id
    run("runtime-agent", "agent", MIGRATIONS, [agent_command_consumer(host)], main)


if __name__ == "__main__":
    cli()
