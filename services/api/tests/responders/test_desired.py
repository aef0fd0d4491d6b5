"""The desired state the API hands the runtime agent."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from berth_api.responders.desired import desired_app


def app_row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": uuid.uuid4(),
        "name": "web",
        "port": 3000,
        "subnet": "10.240.0.16/28",
        "memory_mb": 512,
        "cpus": Decimal("1.50"),
        "health_path": "/up",
        "deleted_at": None,
        "generation": 7,
        "deploy_timeout_seconds": 90,
        "stop_timeout_seconds": 3,
    }
    row.update(overrides)
    return row


def release_row() -> dict[str, Any]:
    return {"id": uuid.uuid4(), "image": "web:v3", "status": "pending"}


def test_app_with_a_release() -> None:
    app, rel = app_row(), release_row()
    d = desired_app(app, rel, "example.com")  # type: ignore[arg-type]
    assert d.hostname == "web.example.com"
    assert d.port == 3000 and d.subnet == "10.240.0.16/28" and d.health_path == "/up"
    assert d.resources.memory_mb == 512 and d.resources.cpus == 1.5
    assert d.release is not None
    assert d.release.image == "web:v3" and d.release.release_id == str(rel["id"]) and d.release.status == "pending"
    assert d.generation == 7 and d.deleted is False
    assert d.release.deadline_seconds == 90 and d.release.stop_timeout_seconds == 3


def test_images_of_recent_releases_are_kept() -> None:
    d = desired_app(app_row(), release_row(), "x", ["sha256:a", "web:v2"])  # type: ignore[arg-type]
    assert d.keep_images == ["sha256:a", "web:v2"]


def test_app_before_first_deploy_has_no_release() -> None:
    assert desired_app(app_row(), None, "x").release is None  # type: ignore[arg-type]


def test_deleted_app_wants_nothing_running() -> None:
    d = desired_app(app_row(deleted_at=datetime.now(UTC)), release_row(), "x")  # type: ignore[arg-type]
    assert d.deleted is True
    assert d.release is None


def test_a_release_runs_its_processes_with_the_counts_a_scale_stored_and_its_release_command() -> None:
    from berth_api.release_formation import encode
    from berth_shared.contracts.processes import Formation, ProcessSpec, ReleaseCommand

    formation = Formation(
        processes=[ProcessSpec(name="worker", command=["python", "w.py"])],
        release_command=ReleaseCommand(command=["migrate"], timeout_seconds=60),
    )
    rel = {**release_row(), "kind": "deploy", "formation": encode(formation)}
    d = desired_app(app_row(process_counts='{"worker": 3}'), rel, "x")  # type: ignore[arg-type]
    assert d.release is not None
    assert [(p.name, p.command, p.count) for p in d.release.processes] == [
        ("web", [], 1),
        ("worker", ["python", "w.py"], 3),
    ]
    assert d.release.release_command == ReleaseCommand(command=["migrate"], timeout_seconds=60)
    restart = desired_app(app_row(), {**rel, "kind": "restart"}, "x")  # type: ignore[arg-type]
    assert restart.release is not None and restart.release.release_command is None
    assert [p.count for p in restart.release.processes] == [1, 1]
    # a release from before formations: the agent's one web process from the CMD
    plain = desired_app(app_row(), release_row(), "x")  # type: ignore[arg-type]
    assert plain.release is not None and plain.release.processes == [] and plain.release.release_command is None
