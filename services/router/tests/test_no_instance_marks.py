"""The marks of apps without a web instance: files Caddy's route looks at (real filesystem)."""

from __future__ import annotations

from pathlib import Path

from berth_router.caddy_config import Route
from berth_router.live_slots import Slots
from berth_router.no_instance_marks import NoInstanceMarks
from berth_router.slot_answers import slot_name
from berth_router.slot_dns import SlotDns

APP = "3f2a9c1e-0000-4000-8000-000000000001"
OTHER = "3f2a9c1e-0000-4000-8000-000000000002"


def test_marks_follow_the_live_slot_table_and_the_marked_app_is_not_answered(tmp_path: Path) -> None:
    marks = NoInstanceMarks(tmp_path / "none")
    slots = Slots(SlotDns(), marks=marks)
    slots.follow_routes([Route(app_id=APP, name="x", hostname="x.test", port=8080, subnet="10.240.0.0/28")])
    slots.switch(APP, "r1", "a", ["10.240.0.2"])
    slots.switch(OTHER, "r1", "a", no_instances=True)
    assert marks.marked() == {OTHER}
    assert slots.dns.table[slot_name(APP)] == ("10.240.0.2",)

    slots.switch(APP, "r1", "a", no_instances=True)  # web scaled to 0
    assert marks.marked() == {APP, OTHER}
    assert slot_name(APP) not in slots.dns.table

    slots.switch(APP, "r1", "a", ["10.240.0.2"])  # back to 1
    slots.forget(OTHER)  # deleted
    assert marks.marked() == set()


def test_only_app_ids_become_file_names(tmp_path: Path) -> None:
    marks = NoInstanceMarks(tmp_path / "none")
    marks.mark({"../escape", "a/b", APP})
    assert marks.marked() == {APP}
    assert [p.name for p in tmp_path.iterdir()] == ["none"]
