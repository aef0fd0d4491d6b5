"""What a rollback to a pruned image says."""

from __future__ import annotations

from berth_shared.image_refs import gone_message, is_image_id


def test_the_message_names_the_image_the_release_and_the_command_that_brings_it_back() -> None:
    assert gone_message("sha256:ab", "web", "reg/web:v3", 3) == (
        "image sha256:ab of release v3 is no longer on this host (it was removed or pruned); "
        "deploy it again with `berth deploy web --image reg/web:v3`"
    )


def test_without_a_name_to_deploy_it_says_to_deploy_it_by_name() -> None:
    message = gone_message("sha256:ab", "web")
    assert message.startswith("image sha256:ab is no longer on this host")
    assert message.endswith("deploy its image again by name with `berth deploy web --image IMAGE`")
    assert "--image IMAGE" in gone_message("sha256:ab", "web", "sha256:ab", 2)


def test_is_image_id() -> None:
    assert is_image_id("sha256:ab") and not is_image_id("web:v1") and not is_image_id("reg/web@sha256:ab")
