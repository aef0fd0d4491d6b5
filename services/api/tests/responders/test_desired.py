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
