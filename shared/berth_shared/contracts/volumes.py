"""Volume family: an app's persistent filesystems (ADR 0028 §1).

A volume is an ext4 filesystem in a preallocated image file on the agent's host, attached to a
loop device by the runtime agent and mounted into containers by Docker as a named volume (never
a host path). The API owns the facts (the ``volumes`` rows, validated by
``berth_api.volume_config``); the agent owns the host (``agent.volumes``):

- what to create travels as desired state: :class:`DesiredVolume` (the API's row as the agent
  needs it; ``provisioned`` False is the only case in which the agent may make a filesystem —
  a volume is created once and never recreated);
- events ``berth.evt.agent.volume.<provisioned|missing>.<app_id>`` (BERTH_EVT):
  :class:`VolumeProvisioned` once the image, loop device, link and Docker volume exist;
  :class:`VolumeMissing` when a volume reported provisioned has no image any more (an app must
  then not start on an empty volume).
"""

from __future__ import annotations

import re
from typing import Final

import msgspec

from berth_shared.contracts.base import Message

VOLUME_EVENTS = "berth.evt.agent.volume.>"

VOLUME_NAME: Final = re.compile(r"[a-z][a-z0-9-]{0,29}")
MIN_SIZE_MB: Final = 64
DEFAULT_SIZE_MB: Final = 1024
# BERTH_VOLUME_MAX_MB's default: the largest volume one request may ask for.
MAX_SIZE_MB: Final = 102_400
MAX_VOLUMES_PER_APP: Final = 4


def volume_event_subject(event: str, app_id: str) -> str:
    return f"berth.evt.agent.volume.{event}.{app_id}"


class DesiredVolume(msgspec.Struct, kw_only=True, frozen=True):
    """One volume of an app as the agent needs it. ``processes`` None: every container of the
    app (its processes, release command, cron and one-off runs) mounts it."""

    id: str
    name: str
    docker_name: str
    size_mb: int
    # The image file's size: ``size_mb`` plus the filesystem's overhead (``volumes.decide.image_bytes``).
    image_bytes: int
    mount_path: str
    processes: list[str] | None = None
    # The agent reported it provisioned once: it must never be made again (a missing image is
    # reported missing, not replaced by an empty one).
    provisioned: bool = False
    # The app it was made for (the Docker volume's ``berth.app`` label; labels never change).
    owner_hint: str = ""


class VolumeProvisioned(Message, kw_only=True):
    app_id: str
    volume_id: str
    image_bytes: int
    # What the app can write: statvfs of the new filesystem (f_bavail x f_frsize).
    usable_bytes: int


class VolumeMissing(Message, kw_only=True):
    app_id: str
    volume_id: str
    reason: str


VolumeEvent = VolumeProvisioned | VolumeMissing
