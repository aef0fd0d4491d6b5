"""Create every stream and the build-context bucket: the one owner of Berth's JetStream layout.

``berth up`` runs this once at start (``python -m berth_shared.start_without_aiohttp berth_shared.provision``),
after NATS is up and before any service starts, as a provisioning identity that exists only
during start (it is removed from the NATS configuration right after). Services only bind to
what this creates; none of them may create, change, purge or delete a stream.

Environment: ``BERTH_PROVISION_NATS_URL``, ``BERTH_PROVISION_NATS_USER``,
``BERTH_PROVISION_NATS_PASSWORD`` (user and password empty for an external NATS).
"""

from __future__ import annotations

import asyncio
import os

from nats.js import JetStreamContext
from nats.js.api import ObjectStoreConfig, StorageType
from nats.js.errors import BucketNotFoundError

from berth_shared import bus
from berth_shared.contracts.builds import BUILDS_BUCKET
from berth_shared.streams import ALL_STREAMS, DAY

BUILDS_BUCKET_CONFIG = ObjectStoreConfig(
    bucket=BUILDS_BUCKET, description="Berth build contexts, kept for a day", ttl=float(DAY), storage=StorageType.FILE
)


async def ensure_builds_bucket(js: JetStreamContext) -> None:
    try:
        await js.object_store(BUILDS_BUCKET)
    except BucketNotFoundError:
        await js.create_object_store(BUILDS_BUCKET, config=BUILDS_BUCKET_CONFIG)


async def provision(js: JetStreamContext) -> None:
    for stream in ALL_STREAMS:
        await bus.ensure_stream(js, stream)
    await ensure_builds_bucket(js)


async def _main() -> None:
    nc = await bus.connect(
        os.environ["BERTH_PROVISION_NATS_URL"],
        os.environ.get("BERTH_PROVISION_NATS_USER") or None,
        os.environ.get("BERTH_PROVISION_NATS_PASSWORD") or None,
        name="berth-provision",
    )
    try:
        await provision(nc.jetstream())
    finally:
        await nc.close()


if __name__ == "__main__":
    asyncio.run(_main())
