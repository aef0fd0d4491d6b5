"""Which of the runtime agent's events the API missed, decided from the agent's state (pure).

The API learns a release's outcome and a deleted app's clean-up only from the agent's events. If
one is lost (removed from the stream, a consumer recreated past it) while the agent keeps
running, the API would keep the release ``starting`` or the deleted app's row (and its subnet)
forever. So the API reads what it recorded, *then* asks the agent what it holds and remembers
(``berth.rpc.agent.<host>.apps``), and applies the events this module names, through the same
stores the event consumer uses (ADR 0018). Each event only moves state forward, as the
consumer's would: a release already settled, or an app not deleted, is left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from berth_shared.contracts.agent import AgentApps, HeldApp, HeldContainer
from berth_shared.contracts.releases import AppCleanedUp, ReleaseFailed, ReleaseLive

# The reason of a failure whose report was lost: the agent remembers that, not why.
LOST_FAILURE_REASON = "the release failed on the runtime agent (its report was lost; the agent's log says why)"

# A deleted app the agent holds nothing for, and does not remember cleaning up (it restarted
# since), is forgotten this long after its deletion: long enough for the agent to have read the
# deletion, so it will not create anything for the app afterwards.
CLEANUP_GRACE = timedelta(minutes=2)

Repair = ReleaseLive | ReleaseFailed | AppCleanedUp


@dataclass(frozen=True)
class Recorded:
    """What the API recorded, read before asking the agent."""

    # Releases still ``pending`` or ``starting``: release id → app id.
    unsettled: Mapping[str, str] = field(default_factory=dict)
    # Apps deleted and not yet cleaned up: app id → when they were deleted.
    deleted: Mapping[str, datetime] = field(default_factory=dict)


def missed_events(recorded: Recorded, held: AgentApps, grace: timedelta = CLEANUP_GRACE) -> list[Repair]:
    """The events to apply, in app order: a release the agent made live or failed while the API
    still has it unsettled, and a deleted app the agent holds nothing for any more."""
    by_app = {app.app_id: app for app in held.apps}
    repairs: list[Repair] = []
    for app in held.apps:
        repairs.extend(_release_outcomes(recorded, app, held.at))
    for app_id, deleted_at in sorted(recorded.deleted.items()):
        if _cleaned_up(by_app.get(app_id), held.at - deleted_at, grace):
            repairs.append(AppCleanedUp(app_id=app_id, host=held.host, at=held.at))
    return repairs


def _release_outcomes(recorded: Recorded, app: HeldApp, at: datetime) -> list[Repair]:
    found: list[Repair] = []
    live = app.live_release
    if live is not None and recorded.unsettled.get(live) == app.app_id:
        container = _container_of(app, live)
        if container is not None:  # nothing says where it runs: wait for the agent to restore it
            found.append(
                ReleaseLive(
                    app_id=app.app_id,
                    release_id=live,
                    slot=container.slot,
                    image_digest=container.image_id,
                    container_id=container.container_id,
                    at=at,
                )
            )
    for release_id in app.failed_releases:
        if release_id != live and recorded.unsettled.get(release_id) == app.app_id:
            found.append(ReleaseFailed(app_id=app.app_id, release_id=release_id, reason=LOST_FAILURE_REASON, at=at))
    return found


def _container_of(app: HeldApp, release_id: str) -> HeldContainer | None:
    """The release's container, a running one first."""
    mine = [c for c in app.containers if c.release_id == release_id]
    return max(mine, key=lambda c: c.running, default=None)


def _cleaned_up(app: HeldApp | None, since_deletion: timedelta, grace: timedelta) -> bool:
    if app is not None and (app.containers or app.network):
        return False
    remembered = app is not None and app.cleaned_up
    return remembered or since_deletion >= grace
