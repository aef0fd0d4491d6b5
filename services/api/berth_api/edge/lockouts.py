"""What happens when a client is locked out: one warning in the API log and one audit entry
(``auth.lockout``, by ``berth``) per lockout, never one per refused request."""

from __future__ import annotations

import logging

from starlette.types import Scope

from berth_api.audit_log import PLATFORM, audit
from berth_api.edge.client import Caller
from berth_api.edge.limiter import Lockout

log = logging.getLogger("berth.api.edge")


def audit_detail(lockout: Lockout, who: Caller) -> dict[str, object]:
    return {
        "client": who.address,
        "failures": lockout.failures,
        "retryAfterSeconds": lockout.seconds,
        "lockout": lockout.level,
    }


async def record(scope: Scope, lockout: Lockout, who: Caller) -> None:
    log.warning(
        "failed authentication: client %s locked out for %d s after %d failures within a minute (lockout %d)",
        who.address,
        lockout.seconds,
        lockout.failures,
        lockout.level,
    )
    async with scope["app"].state.berth.pool.acquire() as conn:
        await audit(conn, PLATFORM, "auth.lockout", None, audit_detail(lockout, who))
