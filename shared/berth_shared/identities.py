"""Bus identities: the NATS user of each service and the reply subjects that are its own.

Kept free of the NATS client so the launcher (which renders the permissions) stays small.
"""

from __future__ import annotations


def inbox_prefix(user: str | None) -> str:
    """The reply subjects of ``user``: its own prefix, which only it may subscribe to, so no
    other identity can listen to the replies it gets (``_INBOX`` without a user)."""
    return f"_INBOX_{user}" if user else "_INBOX"
