"""Fixtures shared by every test: real infrastructure started by Berth's own launcher."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from berth_cli.launcher.platform import Platform
from berth_shared import bus
from berth_shared.settings import ServiceEnv
from berth_testing import build_busybox_image, free_port, isolated_settings, wait_for
from nats.js import JetStreamContext

__all__ = ["build_busybox_image", "free_port", "isolated_settings", "wait_for"]


@pytest.fixture(scope="session")
async def infra(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    """Postgres, NATS and Caddy from the launcher, with every service's role, schema and user
    provisioned, but no service processes: integration tests run the service under test. It
    has the ``observer`` NATS identity (``observer_nats()``), which a normal start never has."""
    home = tmp_path_factory.mktemp("berth-infra")
    platform = Platform(isolated_settings(home), services=(), observer=True)
    await platform.start()
    try:
        yield platform
    finally:
        await platform.stop()


@pytest.fixture(scope="session")
async def api_js(infra: Platform) -> AsyncIterator[JetStreamContext]:
    """JetStream as the API's NATS user: publish what the API would (app events, contexts)."""
    env = ServiceEnv.from_env(infra.service_env("api"))
    nc = await bus.connect(env.nats_url, env.nats_user, env.nats_password, name="test-as-api")
    try:
        yield nc.jetstream()
    finally:
        await nc.close()


@pytest.fixture(scope="session")
def test_images() -> dict[str, str]:
    """Local images: ``v1``/``v2`` answer their name at /; ``crash`` exits 3 at once;
    ``deaf`` runs but never answers HTTP on its port; ``flaky`` serves for 2 s then exits 3."""
    return {
        "v1": build_busybox_image("berth-test/web:v1", "v1\n"),
        "v2": build_busybox_image("berth-test/web:v2", "v2\n"),
        "crash": build_busybox_image("berth-test/web:crash", "x", ["/bin/sh", "-c", "echo boom >&2; exit 3"]),
        "deaf": build_busybox_image("berth-test/web:deaf", "x", ["/bin/sh", "-c", "exec sleep 3600"]),
        # Passes the deploy gate, then dies with code 3 after two seconds, every time.
        "flaky": build_busybox_image(
            "berth-test/web:flaky", "flaky\n", ["/bin/sh", "-c", "httpd -p 8080 -h /www; sleep 2; exit 3"]
        ),
    }
