"""What the API's app list says about one app (the facts resyncing services repair from)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from berth_api.responders.app_list import app_facts
from berth_shared.contracts.owner_state import LiveRelease


def row(**overrides: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "id": uuid.UUID(int=1),
        "name": "web",
        "port": 8080,
        "subnet": "10.240.0.16/28",
        "health_path": "/healthz",
        "health_check": '{"path": "/healthz", "expected_status": 204}',
        "live_release_id": None,
        "live_slot": None,
        "live_release_at": None,
    }
    return {**fields, **overrides}


def test_an_app_is_described_as_its_app_updated_event_would_be() -> None:
    facts = app_facts(row(), "berth.test", ["b.example.com", "a.example.com"])  # type: ignore[arg-type]
    assert (facts.app_id, facts.name, facts.hostname, facts.port, facts.subnet) == (
        str(uuid.UUID(int=1)),
        "web",
        "web.berth.test",
        8080,
        "10.240.0.16/28",
    )
    assert facts.health_path == "/healthz"
    assert facts.health_check is not None and facts.health_check.expected_status == 204
    assert facts.domains == ["a.example.com", "b.example.com"]
    assert facts.live is None


def test_the_live_release_is_named_with_its_slot_and_when_it_went_live() -> None:
    at = datetime(2025, 1, 1, tzinfo=UTC)
    facts = app_facts(row(live_release_id=uuid.UUID(int=7), live_slot="b", live_release_at=at), "berth.test", [])  # type: ignore[arg-type]
    assert facts.live == LiveRelease(release_id=str(uuid.UUID(int=7)), slot="b", live_at=at)


def test_the_live_release_names_every_web_instance_address() -> None:
    at = datetime(2025, 1, 1, tzinfo=UTC)
    live = row(live_release_id=uuid.UUID(int=7), live_slot="a", live_release_at=at,
               live_addresses=["10.240.0.18", "10.240.0.20"])  # fmt: skip
    facts = app_facts(live, "berth.test", [])  # type: ignore[arg-type]
    assert facts.live is not None and facts.live.addresses == ["10.240.0.18", "10.240.0.20"]
