"""Timing the proxy and the runtime agent must agree on (design §5).

Caddy checks every slot actively at this interval; after a new slot answers, the agent waits
long enough for Caddy to have seen it healthy before it drains the old one.
"""

from __future__ import annotations

ACTIVE_HEALTH_INTERVAL_SECONDS = 0.5
PROXY_SWITCH_SECONDS = 2 * ACTIVE_HEALTH_INTERVAL_SECONDS + 0.2
