"""What request handlers share: the DB pool, the bus, settings, the outbox."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from berth_shared.settings import Settings
from nats.aio.client import Client

from berth_api.outbox import OutboxPublisher


@dataclass
class ApiState:
    pool: asyncpg.Pool
    nc: Client
    settings: Settings
    outbox: OutboxPublisher
