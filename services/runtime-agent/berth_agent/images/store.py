"""The agent's own record of the images it brought into use for Berth releases (``agent.images``).

Rows are scoped by instance and host: several agents share the schema, each prunes only what
it recorded on its own Docker host.
"""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from berth_agent.images.decide import FOUND, RecordedImage, origin_of

MIGRATION_IMAGES = """
CREATE TABLE images (
    instance text NOT NULL,
    host text NOT NULL,
    image_id text NOT NULL,
    app_id text NOT NULL,
    ref text NOT NULL,
    last_used timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instance, host, image_id, app_id, ref)
);
CREATE INDEX images_app ON images (instance, host, app_id);
"""

# Provenance (migration 3): how each image came onto the host. Rows recorded before it are
# ``found`` (never pruned), except Berth's own build tags.
MIGRATION_IMAGE_ORIGIN = """
ALTER TABLE images ADD COLUMN origin text NOT NULL DEFAULT 'found'
    CHECK (origin IN ('built', 'pulled', 'found'));
UPDATE images SET origin = 'built' WHERE ref LIKE 'berth-build/%';
"""


class ImageStore:
    def __init__(self, pool: asyncpg.Pool, instance: str, host: str) -> None:
        self._pool = pool
        self._instance = instance
        self._host = host

    async def record(self, image_id: str, app_id: str, ref: str, observed: str = FOUND) -> str:
        """Record a use of ``image_id``; returns the origin recorded (see ``origin_of``)."""
        async with self._pool.acquire() as conn, conn.transaction():
            earlier = await conn.fetch(
                "SELECT DISTINCT origin FROM images WHERE instance = $1 AND host = $2 AND image_id = $3",
                self._instance,
                self._host,
                image_id,
            )
            origin = origin_of(observed, [r["origin"] for r in earlier])
            await conn.execute(
                "INSERT INTO images (instance, host, image_id, app_id, ref, origin) VALUES ($1, $2, $3, $4, $5, $6) "
                "ON CONFLICT (instance, host, image_id, app_id, ref) DO UPDATE SET last_used = now(), "
                "origin = CASE WHEN EXCLUDED.origin = 'found' THEN images.origin ELSE EXCLUDED.origin END",
                self._instance,
                self._host,
                image_id,
                app_id,
                ref,
                origin,
            )
        return origin

    async def rows(self) -> list[RecordedImage]:
        found = await self._pool.fetch(
            "SELECT image_id, app_id, ref, origin FROM images WHERE instance = $1 AND host = $2 "
            "ORDER BY image_id, app_id, ref",
            self._instance,
            self._host,
        )
        return [
            RecordedImage(image_id=r["image_id"], app_id=r["app_id"], ref=r["ref"], origin=r["origin"]) for r in found
        ]

    async def forget_app(self, app_id: str) -> None:
        """A deleted app's rows of images it found on the host go (they are never pruned); rows
        of images Berth built or pulled stay until the prune has removed those images."""
        await self._pool.execute(
            "DELETE FROM images WHERE instance = $1 AND host = $2 AND app_id = $3 AND origin = 'found'",
            self._instance,
            self._host,
            app_id,
        )

    async def forget_images(self, image_ids: Iterable[str]) -> None:
        ids = list(image_ids)
        if ids:
            await self._pool.execute(
                "DELETE FROM images WHERE instance = $1 AND host = $2 AND image_id = ANY($3::text[])",
                self._instance,
                self._host,
                ids,
            )
