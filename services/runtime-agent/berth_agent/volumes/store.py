"""The volumes the agent made on its host (``agent.volumes``, ADR 0028 §1).

A row is written before the image is made, so a crash never leaves an image the store does not
know; whether a volume exists is the image under its final name (``decide.plan``), never the
row. The loop device is a hint (it changes after a reboot); ``losetup`` is the truth. Rows are
scoped by instance and host.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

MIGRATION_VOLUMES = """
CREATE TABLE volumes (
    instance text NOT NULL,
    host text NOT NULL,
    volume_id text NOT NULL,
    app_id text NOT NULL,
    image_path text NOT NULL,
    image_bytes bigint NOT NULL,
    docker_name text NOT NULL,
    loop_device text NOT NULL DEFAULT '',
    used_bytes bigint,
    usage_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instance, host, volume_id)
);
"""


@dataclass(frozen=True)
class StoredVolume:
    volume_id: str
    app_id: str
    image_path: str
    image_bytes: int
    docker_name: str
    loop_device: str


class VolumeStore:
    def __init__(self, pool: asyncpg.Pool, instance: str, host: str) -> None:
        self._pool = pool
        self._instance = instance
        self._host = host

    async def record(self, volume: StoredVolume) -> None:
        await self._pool.execute(
            "INSERT INTO volumes (instance, host, volume_id, app_id, image_path, image_bytes, docker_name, "
            "loop_device) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
            "ON CONFLICT (instance, host, volume_id) DO UPDATE SET "
            "image_path = EXCLUDED.image_path, image_bytes = EXCLUDED.image_bytes, docker_name = EXCLUDED.docker_name",
            self._instance,
            self._host,
            volume.volume_id,
            volume.app_id,
            volume.image_path,
            volume.image_bytes,
            volume.docker_name,
            volume.loop_device,
        )

    async def attached(self, volume_id: str, device: str) -> None:
        await self._pool.execute(
            "UPDATE volumes SET loop_device = $4 WHERE instance = $1 AND host = $2 AND volume_id = $3",
            self._instance,
            self._host,
            volume_id,
            device,
        )

    async def rows(self) -> list[StoredVolume]:
        found = await self._pool.fetch(
            "SELECT volume_id, app_id, image_path, image_bytes, docker_name, loop_device FROM volumes "
            "WHERE instance = $1 AND host = $2 ORDER BY volume_id",
            self._instance,
            self._host,
        )
        return [StoredVolume(**dict(r)) for r in found]

    async def forget(self, volume_id: str) -> None:
        await self._pool.execute(
            "DELETE FROM volumes WHERE instance = $1 AND host = $2 AND volume_id = $3",
            self._instance,
            self._host,
            volume_id,
        )
