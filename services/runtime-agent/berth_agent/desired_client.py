"""The agent's side of the desired-state queries: ask the API, open the sealed environments.

The agent makes an X25519 key pair when it starts (the private key stays in this process's
memory, never on disk) and sends the public key with every query; the API seals each app's
environment to it (``berth_shared.sealing``). Values are opened here, into the in-memory
``DesiredRelease.env`` the rest of the agent reads; whatever arrives in the plaintext ``env``
field is ignored.
"""

from __future__ import annotations

import msgspec
import nats.errors
from berth_shared import bus
from berth_shared.contracts.desired import (
    DESIRED_GET,
    DESIRED_LIST,
    DesiredApp,
    DesiredListReply,
    DesiredReply,
    GetDesired,
    ListDesired,
)
from berth_shared.contracts.runs import DESIRED_RUN, DesiredRun, DesiredRunReply, GetDesiredRun
from berth_shared.errors import BusUnavailable
from berth_shared.sealing import OpeningKey, SealingError, open_env
from nats.aio.client import Client

TIMEOUT_SECONDS = 5.0


def opened(app: DesiredApp, key: OpeningKey) -> DesiredApp:
    """``app`` with its release's environment opened (empty when none was sealed)."""
    release = app.release
    if release is None:
        return app
    try:
        env = open_env(release.sealed_env, key, app.app_id, release.release_id) if release.sealed_env else {}
    except SealingError as exc:
        raise BusUnavailable(f"desired state of app {app.app_id}: {exc}") from None
    return msgspec.structs.replace(app, release=msgspec.structs.replace(release, env=env, sealed_env=None))


class DesiredClient:
    def __init__(self, nc: Client, host: str, key: OpeningKey | None = None) -> None:
        self._nc = nc
        self._host = host
        self._key = key or OpeningKey.generate()

    async def get(self, app_id: str) -> DesiredApp | None:
        """The app's desired state; raises BusUnavailable (change nothing) when it cannot be had."""
        query = GetDesired(app_id=app_id, seal_to=self._key.public)
        try:
            reply = await bus.request(self._nc, DESIRED_GET, query, DesiredReply, timeout=TIMEOUT_SECONDS)
        except (nats.errors.Error, TimeoutError) as exc:
            raise BusUnavailable(f"desired state for {app_id} unavailable: {type(exc).__name__}") from exc
        return opened(reply.app, self._key) if reply.app is not None else None

    async def list(self) -> list[DesiredApp]:
        """Every app the API can describe in full. Raises what the request raises."""
        query = ListDesired(host=self._host, seal_to=self._key.public)
        listed = await bus.request(self._nc, DESIRED_LIST, query, DesiredListReply, timeout=TIMEOUT_SECONDS)
        return [opened(app, self._key) for app in listed.apps]

    async def get_run(self, app_id: str, run_id: str) -> tuple[DesiredRun, dict[str, str]] | None:
        """What run ``run_id`` starts and its opened environment; None when it is no longer to be
        started. Raises BusUnavailable (change nothing) when it cannot be had."""
        query = GetDesiredRun(app_id=app_id, run_id=run_id, seal_to=self._key.public)
        try:
            reply = await bus.request(self._nc, DESIRED_RUN, query, DesiredRunReply, timeout=TIMEOUT_SECONDS)
        except (nats.errors.Error, TimeoutError) as exc:
            raise BusUnavailable(f"desired run {run_id} unavailable: {type(exc).__name__}") from exc
        run = reply.run
        if run is None:
            return None
        try:
            env = open_env(run.sealed_env, self._key, app_id, run.release_id) if run.sealed_env else {}
        except SealingError as exc:
            raise BusUnavailable(f"desired run {run_id}: {exc}") from None
        return msgspec.structs.replace(run, sealed_env=None), env
