"""When the sync loop loads a config: only when what Caddy runs differs from the render."""

from __future__ import annotations

from berth_router.caddy_config import render
from berth_router.sync import needs_load


def test_equal_config_needs_no_load() -> None:
    assert not needs_load(
        render([], http_port=80, admin_socket="/b/admin.sock"), render([], http_port=80, admin_socket="/b/admin.sock")
    )


def test_a_caddy_without_config_needs_a_load() -> None:
    assert needs_load(render([], http_port=80, admin_socket="/b/admin.sock"), None)


def test_a_changed_config_needs_a_load() -> None:
    assert needs_load(
        render([], http_port=80, admin_socket="/b/admin.sock"), render([], http_port=81, admin_socket="/b/admin.sock")
    )
