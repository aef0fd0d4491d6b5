"""The audit log (``audit_log`` table): who changed what, when. Every writer records its entry
here, in the transaction of the change it describes; env entries name keys only, never values."""

from __future__ import annotations

import json
import uuid

from berth_shared.db import Connection

from berth_api.scopes import Principal

# Who an audit entry names: the token behind a request, or the platform acting on its own.
Actor = Principal | str
PLATFORM: Actor = "berth"


async def audit(
    conn: Connection, actor: Actor, action: str, app_id: uuid.UUID | None, detail: dict[str, object]
) -> None:
    """One audit entry. A token's entry names it (``actor`` = its name) and holds its id."""
    await conn.execute(
        "INSERT INTO audit_log (actor, token_id, action, app_id, detail) VALUES ($1, $2, $3, $4, $5::jsonb)",
        actor.name if isinstance(actor, Principal) else actor,
        actor.token_id if isinstance(actor, Principal) else None,
        action,
        app_id,
        json.dumps(detail),
    )
