"""Human output: aligned tables and relative times."""

from __future__ import annotations

from datetime import UTC, datetime

from berth_cli.output import ago, table


def test_table_aligns_columns_and_uppercases_headers() -> None:
    assert table([("web", "running"), ("api-server", "crashed")], ["name", "status"]).splitlines() == [
        "NAME        STATUS",
        "web         running",
        "api-server  crashed",
    ]


def test_relative_times() -> None:
    now = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
    assert ago("2026-12-01T11:59:30Z", now) == "30s ago"
    assert ago("2026-12-01T11:15:00Z", now) == "45m ago"
    assert ago("2026-11-29T12:00:00Z", now) == "2d ago"
    assert ago(None, now) == "-"
