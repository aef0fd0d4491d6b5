"""What the agent's serving slots repair in the router's live-slot table."""

from __future__ import annotations

from berth_router.slot_resync import LiveSlot, slot_repairs
from berth_shared.contracts.slots import ServingSlot


def serving(app_id: str, slot: str, release_id: str = "r2") -> ServingSlot:
    return ServingSlot(app_id=app_id, release_id=release_id, slot=slot)  # type: ignore[arg-type]


def test_an_empty_table_after_a_restart_is_filled_from_the_agent() -> None:
    answer = [serving("app1", "b"), serving("app2", "a")]
    assert slot_repairs({}, {}, answer) == answer


def test_a_slot_or_release_the_agent_serves_otherwise_is_repaired_and_an_agreeing_one_left_alone() -> None:
    table = {"same": LiveSlot("r2", "b", 1), "slot": LiveSlot("r2", "a", 2), "release": LiveSlot("r1", "b", 3)}
    answer = [serving("same", "b"), serving("slot", "b"), serving("release", "b")]
    assert [r.app_id for r in slot_repairs(table, table, answer)] == ["slot", "release"]


def test_a_switch_after_the_agent_was_asked_is_newer_than_its_answer() -> None:
    before = {"switched": LiveSlot("r1", "a", 1)}
    now = {"switched": LiveSlot("r2", "b", 2), "new": LiveSlot("r3", "a", 3)}
    # The agent answered what it served before it asked for these switches.
    assert slot_repairs(before, now, [serving("switched", "a", "r1"), serving("new", "b", "r0")]) == []


def test_apps_the_agent_does_not_name_are_left_as_they_are() -> None:
    table = {"unnamed": LiveSlot("r1", "a", 1)}
    assert slot_repairs(table, table, []) == []


def test_web_addresses_the_agent_serves_otherwise_are_repaired() -> None:
    table = {
        "scaled": LiveSlot("r2", "b", 1, ("10.0.0.3",)),
        "same": LiveSlot("r2", "b", 2, ("10.0.0.3", "10.0.0.5")),
        "old agent": LiveSlot("r2", "b", 3),
    }
    answer = [
        ServingSlot(app_id="scaled", release_id="r2", slot="b", addresses=["10.0.0.3", "10.0.0.5"]),
        ServingSlot(app_id="same", release_id="r2", slot="b", addresses=["10.0.0.3", "10.0.0.5"]),
        serving("old agent", "b"),  # names no addresses, as before ADR 0026: nothing to repair
    ]
    assert [(r.app_id, r.addresses) for r in slot_repairs(table, table, answer)] == [
        ("scaled", ["10.0.0.3", "10.0.0.5"])
    ]


def test_an_app_the_agent_serves_with_no_web_instance_is_repaired_both_ways() -> None:
    table = {"to zero": LiveSlot("r2", "a", 1, ("10.0.0.2",)), "back": LiveSlot("r2", "a", 2, (), no_instances=True)}
    answer = [
        ServingSlot(app_id="to zero", release_id="r2", slot="a", no_instances=True),
        ServingSlot(app_id="back", release_id="r2", slot="a", addresses=["10.0.0.2"]),
    ]
    assert [(r.app_id, r.no_instances) for r in slot_repairs(table, table, answer)] == [
        ("to zero", True),
        ("back", False),
    ]
