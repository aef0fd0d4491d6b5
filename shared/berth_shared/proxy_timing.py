"""Timing the proxy, the router and the runtime agent agree on (ADR 0025).

Caddy looks each app's live slot up in the router's slot DNS at most once per
``UPSTREAM_REFRESH_SECONDS``, and only while requests need it. Once the router has confirmed a
switch, the agent waits that long before the release is live: every request that starts later
goes to the new slot.
"""

from __future__ import annotations

UPSTREAM_REFRESH_SECONDS = 0.1
# How long the agent keeps asking the router for a switch (it may be restarting) before the
# release fails and the old slot keeps serving.
SWITCH_DEADLINE_SECONDS = 15.0
