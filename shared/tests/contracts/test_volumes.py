"""Volumes: the agent's events land in the events stream under the agent's own prefix, decode by
tag, and what a newer API adds to a desired volume defaults for an older one."""

from __future__ import annotations

from berth_shared.contracts.base import decode, encode
from berth_shared.contracts.volumes import (
    VOLUME_EVENTS,
    DesiredVolume,
    VolumeEvent,
    VolumeMissing,
    VolumeProvisioned,
    volume_event_subject,
)
from berth_shared.streams import EVENTS


def test_volume_events_are_agent_events_kept_in_the_events_stream() -> None:
    subject = volume_event_subject("provisioned", "a1")
    assert subject == "berth.evt.agent.volume.provisioned.a1"
    assert subject.startswith(VOLUME_EVENTS.removesuffix(">")) and subject.startswith("berth.evt.agent.")
    assert any(subject.startswith(s.removesuffix(">")) for s in EVENTS.subjects)


def test_provisioned_and_missing_decode_by_their_tag() -> None:
    made = VolumeProvisioned(app_id="a", volume_id="v", image_bytes=70 << 20, usable_bytes=64 << 20)
    gone = VolumeMissing(app_id="a", volume_id="v", reason="image /x/v.ext4 is gone")
    assert decode(encode(made), VolumeEvent) == made
    decoded = decode(encode(gone), VolumeEvent)
    assert isinstance(decoded, VolumeMissing) and decoded.reason == "image /x/v.ext4 is gone"


def test_a_desired_volume_without_the_optional_fields_is_every_process_and_never_provisioned() -> None:
    volume = decode(
        b'{"id":"v","name":"data","docker_name":"berth-i-v-v","size_mb":64,"image_bytes":70000000,'
        b'"mount_path":"/data"}',
        DesiredVolume,
    )
    assert volume.processes is None and not volume.provisioned and volume.owner_hint == ""
