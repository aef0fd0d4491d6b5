"""Which images the agent prunes, decided on plain data."""

from __future__ import annotations

import pytest
from berth_agent.images.decide import (
    BUILT,
    FOUND,
    PULLED,
    LocalImage,
    PrunePlan,
    PruneTarget,
    RecordedImage,
    normalize,
    origin_of,
    plan_prune,
    unspoken_apps,
)


def rows(*entries: tuple[str, str, str], origin: str = PULLED) -> list[RecordedImage]:
    return [RecordedImage(image_id=i, app_id=a, ref=r, origin=origin) for i, a, r in entries]


def local(*images: LocalImage) -> dict[str, LocalImage]:
    return {i.image_id: i for i in images}


RECORDED = rows(
    ("sha256:1", "app", "web:1"),
    ("sha256:2", "app", "web:2"),
    ("sha256:3", "app", "web:3"),
    ("sha256:4", "app", "registry.example/team/web@sha256:d4"),
    ("sha256:5", "other", "busybox"),
)
LOCAL = local(
    LocalImage("sha256:1", tags=("web:1",)),
    LocalImage("sha256:2", tags=("web:2",)),
    LocalImage("sha256:3", tags=("web:3",)),
    LocalImage("sha256:4", digests=("registry.example/team/web@sha256:d4",)),
    LocalImage("sha256:5", tags=("busybox:latest",)),
)


def test_unkept_unused_images_are_removed_by_the_refs_the_agent_used() -> None:
    decided = plan_prune(RECORDED, LOCAL, keep=["web:3"], in_use=[])
    assert decided == PrunePlan(
        remove=(
            PruneTarget("sha256:1", ("web:1",)),
            PruneTarget("sha256:2", ("web:2",)),
            PruneTarget("sha256:4", ("registry.example/team/web@sha256:d4",)),
            PruneTarget("sha256:5", ("busybox",)),
        )
    )


def test_kept_by_id_tag_or_digest_in_any_spelling() -> None:
    keep = ["sha256:1", "docker.io/library/web:2", "registry.example/team/web@sha256:d4", "docker.io/library/busybox"]
    decided = plan_prune(RECORDED, LOCAL, keep=keep, in_use=[])
    assert [t.image_id for t in decided.remove] == ["sha256:3"]


def test_images_of_containers_and_rollouts_in_progress_are_never_removed() -> None:
    decided = plan_prune(RECORDED, LOCAL, keep=[], in_use=["sha256:1", "web:2", "busybox:latest"])
    assert [t.image_id for t in decided.remove] == ["sha256:3", "sha256:4"]


def test_a_tag_moved_by_the_user_does_not_protect_the_old_image_but_one_the_image_still_has_does() -> None:
    moved = local(LocalImage("sha256:1", tags=()), LocalImage("sha256:2", tags=("mine:prod", "web:2")))
    decided = plan_prune(rows(("sha256:1", "app", "web:1"), ("sha256:2", "app", "web:2")), moved, ["mine:prod"], [])
    assert decided.remove == (PruneTarget("sha256:1", ("web:1",)),)


def test_only_recorded_images_are_considered_and_missing_ones_are_forgotten() -> None:
    decided = plan_prune(rows(("sha256:gone", "app", "web:0")), LOCAL, keep=[], in_use=[])
    assert decided == PrunePlan(remove=(), forget=("sha256:gone",))
    assert plan_prune([], LOCAL, keep=[], in_use=[]) == PrunePlan()


def test_an_image_recorded_by_two_apps_goes_only_when_neither_keeps_it() -> None:
    shared = rows(("sha256:1", "app", "web:1"), ("sha256:1", "other", "web:1"))
    assert plan_prune(shared, LOCAL, keep=["web:1"], in_use=[]).remove == ()
    assert plan_prune(shared, LOCAL, keep=[], in_use=[]).remove == (PruneTarget("sha256:1", ("web:1",)),)


def test_normalize() -> None:
    assert normalize("busybox") == "busybox:latest"
    assert normalize("docker.io/library/busybox:1.36") == "busybox:1.36"
    assert normalize("localhost:5000/web") == "localhost:5000/web:latest"
    assert normalize("ghcr.io/a/b@sha256:ff") == "ghcr.io/a/b@sha256:ff"
    assert normalize("sha256:abc") == "sha256:abc"


def test_every_image_of_an_app_whose_keep_list_is_unspoken_is_kept() -> None:
    decided = plan_prune(RECORDED, LOCAL, keep=[], in_use=[], keep_apps=["app"])
    assert decided.remove == (PruneTarget("sha256:5", ("busybox",)),)  # only the other app's image goes
    apps = [("with-list", True, 5), ("old-api", True, 0), ("never-deployed", False, 0)]
    assert unspoken_apps(apps) == {"old-api"}


def row(image_id: str, app_id: str, ref: str, origin: str) -> RecordedImage:
    return RecordedImage(image_id=image_id, app_id=app_id, ref=ref, origin=origin)


@pytest.mark.parametrize(
    ("case", "recorded", "present", "keep", "removed"),
    [
        (
            "a user's image found on the host is never removed",
            [row("sha256:1", "a", "mine:v1", FOUND)],
            [LocalImage("sha256:1", tags=("mine:v1",))],
            [],
            [],
        ),
        (
            "an image Berth pulled and nothing keeps goes",
            [row("sha256:1", "a", "reg/web:1", PULLED)],
            [LocalImage("sha256:1", tags=("reg/web:1",))],
            [],
            [PruneTarget("sha256:1", ("reg/web:1",))],
        ),
        (
            "an image Berth built and nothing keeps goes",
            [row("sha256:1", "a", "berth-build/a:v1", BUILT)],
            [LocalImage("sha256:1", tags=("berth-build/a:v1",))],
            [],
            [PruneTarget("sha256:1", ("berth-build/a:v1",))],
        ),
        (
            "Berth's image that a user deployed by their own tag loses only Berth's tag",
            [row("sha256:1", "a", "reg/web:1", PULLED), row("sha256:1", "b", "mine:v1", FOUND)],
            [LocalImage("sha256:1", tags=("reg/web:1", "mine:v1"))],
            [],
            [PruneTarget("sha256:1", ("reg/web:1",))],
        ),
        (
            "a found ref spelled like Berth's own is never untagged",
            [row("sha256:1", "a", "web:1", PULLED), row("sha256:1", "b", "docker.io/library/web:1", FOUND)],
            [LocalImage("sha256:1", tags=("web:1",))],
            [],
            [],
        ),
        (
            "Berth's image known only by id is removed by id when untagged",
            [row("sha256:1", "a", "sha256:1", PULLED)],
            [LocalImage("sha256:1")],
            [],
            [PruneTarget("sha256:1", ())],
        ),
        (
            "but not while someone's tag is on it (deleting by id would untag it)",
            [row("sha256:1", "a", "sha256:1", PULLED)],
            [LocalImage("sha256:1", tags=("mine:v1",))],
            [],
            [],
        ),
        (
            "a kept rollback target stays although it is Berth's",
            [row("sha256:1", "a", "reg/web:1", PULLED), row("sha256:2", "a", "reg/web:2", PULLED)],
            [LocalImage("sha256:1", tags=("reg/web:1",)), LocalImage("sha256:2", tags=("reg/web:2",))],
            ["sha256:1"],
            [PruneTarget("sha256:2", ("reg/web:2",))],
        ),
        (
            "a deleted app's Berth images (kept by no app) go, its found ones stay",
            [row("sha256:1", "gone", "berth-build/gone:v1", BUILT), row("sha256:2", "gone", "mine:v1", FOUND)],
            [LocalImage("sha256:1", tags=("berth-build/gone:v1",)), LocalImage("sha256:2", tags=("mine:v1",))],
            [],
            [PruneTarget("sha256:1", ("berth-build/gone:v1",))],
        ),
    ],
)
def test_only_images_berth_built_or_pulled_are_pruned(
    case: str, recorded: list[RecordedImage], present: list[LocalImage], keep: list[str], removed: list[PruneTarget]
) -> None:
    assert list(plan_prune(recorded, local(*present), keep=keep, in_use=[]).remove) == removed, case


@pytest.mark.parametrize(
    ("observed", "earlier", "recorded"),
    [
        (FOUND, [], FOUND),  # already on the host, never seen before: the user's
        (PULLED, [], PULLED),
        (BUILT, [FOUND], BUILT),
        (FOUND, [PULLED], PULLED),  # a restart by id of an image Berth pulled stays Berth's
        (FOUND, [BUILT, FOUND], BUILT),
        (FOUND, [FOUND], FOUND),
    ],
)
def test_the_origin_recorded_for_an_image(observed: str, earlier: list[str], recorded: str) -> None:
    assert origin_of(observed, earlier) == recorded
