"""Apps without a web instance (web scaled to 0, a worker-only release), marked for Caddy: an
empty file named by the app's id in one directory (ADR 0026 §2).

Caddy's route for each app first asks whether its mark exists (the ``file`` matcher: one
``stat`` per request, ``caddy_config.app_route``) and then answers the app's 503 page at once;
otherwise it proxies to the addresses the slot DNS answers. Without the mark a request for an app
with no instance would wait out the proxy's retry window (``TRY_DURATION``) on addresses that are
gone. Marking changes no config, so it needs no reload, like a flip (ADR 0025).

The directory is the router's own; the marks are what the live-slot table says, rewritten on
each change of it (a restarted router has none until the agent's serving slots fill the table
again, at its first slot resync; a restarted agent tells the router again at its first reconcile
— the planner's ``Unserved`` step — so the marks come back whichever of them restarted).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Set
from pathlib import Path

log = logging.getLogger("berth.router.marks")

# App ids are UUIDs; a name with a dot or a slash never becomes a file name.
_APP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class NoInstanceMarks:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True, mode=0o755)

    def marked(self) -> set[str]:
        try:
            return {entry.name for entry in os.scandir(self.directory) if entry.is_file()}
        except OSError as exc:
            log.warning("cannot list the no-instance marks in %s: %s", self.directory, exc)
            return set()

    def mark(self, app_ids: Set[str]) -> None:
        """Exactly ``app_ids`` are marked from now on."""
        held = self.marked()
        for app_id in sorted({a for a in app_ids if _APP_ID.match(a)} - held):
            try:
                (self.directory / app_id).touch()
            except OSError as exc:
                log.warning("cannot mark %s as without instances: %s", app_id, exc, extra={"app_id": app_id})
        for app_id in sorted(held - set(app_ids)):
            try:
                (self.directory / app_id).unlink(missing_ok=True)
            except OSError as exc:
                log.warning("cannot unmark %s: %s", app_id, exc, extra={"app_id": app_id})
