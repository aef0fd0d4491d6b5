"""The Docker network that ``RUN`` steps of builds use, one per instance.

The runtime agent creates it (a bridge whose Linux name is fixed here) and sends builds to it;
the launcher's egress chain is jumped to for traffic coming in on that bridge. Matching the
interface, not an address, holds even against a build step that forges its source address
(``RUN`` steps keep ``NET_RAW``). A user-defined network also gives the steps Docker's embedded
DNS, so they resolve names without reaching the host's (possibly private) resolvers.
"""

from __future__ import annotations

IFNAMSIZ = 15  # Linux interface names are at most 15 characters


def network_name(instance: str) -> str:
    return f"berth-{instance}-build"


def bridge_name(instance: str) -> str:
    """``berthb-<instance>`` cut to what Linux allows (instances are 8 hex characters)."""
    return f"berthb-{instance}"[:IFNAMSIZ]
