"""What a restore can bring back of each app, decided from the restored database's rows."""

from __future__ import annotations

from berth_cli.launcher import restore_plan as rp

ID = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64


def test_an_image_on_this_engine_comes_back_as_it_was() -> None:
    assert rp.decide(rp.AppImage(app="web", version=3, image=ID), present=True).outcome == rp.PRESENT


def test_a_missing_image_by_name_is_pulled() -> None:
    rec = rp.decide(rp.AppImage(app="web", version=1, image="ghcr.io/me/web:v1"), present=False)
    assert (rec.outcome, rec.pull_ref) == (rp.PULL, "ghcr.io/me/web:v1")
    assert rp.after_pull(rec, ID, "").outcome == rp.PULL


def test_a_restart_by_id_is_pulled_by_the_name_it_was_deployed_as_and_must_be_the_same_image() -> None:
    item = rp.AppImage(app="web", version=4, image=ID, source_image="me/web:v1")
    rec = rp.decide(item, present=False)
    assert (rec.outcome, rec.pull_ref) == (rp.PULL, "me/web:v1")
    assert rp.after_pull(rec, ID, "").outcome == rp.PULL
    moved = rp.after_pull(rec, OTHER, "")
    assert moved.outcome == rp.LOST
    assert "now names another image" in moved.why and "berth deploy web --image me/web:v1" in moved.why


def test_a_failed_pull_is_lost_with_the_engines_reason_and_how_to_fix_it() -> None:
    rec = rp.decide(rp.AppImage(app="web", version=1, image="mine:v1"), present=False)
    lost = rp.after_pull(rec, "", "pull access denied for mine")
    assert lost.outcome == rp.LOST
    assert "pull access denied for mine" in lost.why and "docker load" in lost.why


def test_a_build_from_source_whose_image_is_gone_is_lost_the_context_is_not_in_backups() -> None:
    rec = rp.decide(rp.AppImage(app="api", version=2, image="berth-build/x:r", built=True), present=False)
    assert rec.outcome == rp.LOST and "berth deploy api ./DIR" in rec.why


def test_an_id_never_deployed_by_name_is_lost() -> None:
    rec = rp.decide(rp.AppImage(app="web", version=2, image=ID, source_image=""), present=False)
    assert rec.outcome == rp.LOST and "only by id" in rec.why


def test_settings_the_state_depends_on_are_named_when_they_differ() -> None:
    old = {"BERTH_SUBNET_POOL": "10.240.0.0/16", "BERTH_HOST_ID": "local", "BERTH_DOMAIN": "example.com"}
    assert rp.settings_drift(old, dict(old)) == []
    drift = rp.settings_drift(old, {**old, "BERTH_SUBNET_POOL": "10.9.0.0/16"})
    assert len(drift) == 1 and drift[0].startswith("BERTH_SUBNET_POOL=10.240.0.0/16")
