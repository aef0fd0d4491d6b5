"""``python -m berth_agent``: the runtime agent as started by ``berth up``. Only starts the
service; what it consumes and answers is declared in :mod:`berth_agent.service`."""

from __future__ import annotations

from berth_shared.service import run
from berth_shared.settings import Settings

from berth_agent.service import MIGRATIONS, consumers, main


def cli() -> None:
    # One connection: log cursors (a short upsert per container and flush) and image records take
    # turns on it rather than keeping a backend per reader (ADR 0001, addendum "Postgres backends").
    run("runtime-agent", "agent", MIGRATIONS, consumers(Settings.from_env().host_id), main, pool_size=1)


if __name__ == "__main__":
    cli()
