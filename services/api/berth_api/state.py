"""What request handlers share: the DB pool, the bus, settings."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from berth_shared.settings import Settings
from nats.aio.client import Client


@dataclass
class ApiState:
    pool: asyncpg.Pool
    nc: Client
    settings: Settings
