"""The router's verification and certificate state of each attached hostname, as the API keeps it.

``DomainStatusChanged`` updates the matching ``domains`` row (same app and hostname; a newer
``at`` wins, so redeliveries and reordering change nothing). When what a user sees changes
(verified, certificate issued, failed and why) an entry is added to the app's history; a retry
that only moves ``checkedAt`` adds none, so a name waiting for DNS does not flood the history.
"""

from __future__ import annotations

import uuid

from berth_shared.contracts.domains import DomainStatusChanged
from berth_shared.db import Connection

from berth_api import history_store
from berth_api.history_store import HistoryEntry

_UPDATE = """
WITH old AS (
    SELECT id, verified_at, tls_status, tls_reason FROM domains
    WHERE app_id = $1 AND hostname = $2 AND (status_at IS NULL OR status_at < $8)
    FOR UPDATE
)
UPDATE domains d SET verified_at = $3, tls_status = $4, tls_reason = $5, tls_issuer = $6, checked_at = $7,
    status_at = $8
FROM old WHERE d.id = old.id
RETURNING old.verified_at IS NOT NULL AS was_verified, old.tls_status, old.tls_reason
"""


def history_entry(event: DomainStatusChanged) -> HistoryEntry:
    detail: dict[str, object] = {
        "hostname": event.hostname,
        "issuer": event.issuer,
        "tlsStatus": event.tls_state,
        "verifyMethod": event.verify_method,
    }
    if event.reason:
        detail["reason"] = event.reason
    return HistoryEntry(event.id, event.app_id, None, f"domain.{event.tls_state}", detail, event.at)


async def apply(conn: Connection, event: DomainStatusChanged) -> None:
    try:
        app_id = uuid.UUID(event.app_id)
    except ValueError:
        return
    async with conn.transaction():
        before = await conn.fetchrow(
            _UPDATE,
            app_id,
            event.hostname,
            event.verified_at,
            event.tls_state,
            event.reason,
            event.issuer,
            event.checked_at,
            event.at,
        )
        if before is None:
            return  # an older state, or a domain detached meanwhile
        seen = (before["was_verified"], before["tls_status"], before["tls_reason"])
        if seen != (event.verified_at is not None, event.tls_state, event.reason):
            await history_store.record(conn, history_entry(event))
