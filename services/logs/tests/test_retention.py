"""Retention: each app's effective limits, the trim plan, out-of-range values refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from berth_logs import retention
from berth_shared.contracts.logs import SetRetention
from berth_shared.errors import ValidationFailed


def test_retention_defaults_apply_until_an_app_sets_its_own() -> None:
    default = retention.effective("a", None, None)
    assert (default.max_age_days, default.max_lines, default.custom_age) == (7, 1_000_000, False)
    custom = retention.effective("a", 2, None)
    assert (custom.max_age_days, custom.max_lines) == (2, 1_000_000)
    assert (custom.custom_age, custom.custom_lines) == (True, False)


def test_the_retention_plan_trims_each_app_by_its_own_limits() -> None:
    now = datetime(2024, 6, 10, tzinfo=UTC)
    plan = retention.plan([retention.effective("a", None, None), retention.effective("b", 1, 50)], now)
    assert plan == [
        retention.Trim("a", now - timedelta(days=7), 1_000_000),
        retention.Trim("b", now - timedelta(days=1), 50),
    ]


def test_retention_values_out_of_range_are_refused_naming_the_field() -> None:
    with pytest.raises(ValidationFailed) as err:
        retention.check(SetRetention(app_id="a", max_age_days=0))
    assert err.value.details[0].field == "maxAgeDays"
    with pytest.raises(ValidationFailed) as err:
        retention.check(SetRetention(app_id="a", max_lines=10**9))
    assert err.value.details[0].field == "maxLines"
    retention.check(SetRetention(app_id="a", max_age_days=30, max_lines=10))
