"""Env var change rules: every refusal names its key, never its value (pure)."""

from __future__ import annotations

import pytest
from berth_api.env_store import MAX_VALUE_BYTES, check_change, key_problem
from berth_shared.errors import ValidationFailed


def refusal(vars: dict[str, str], unset: list[str] | None = None) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as info:
        check_change(vars, unset or [])
    return info.value


@pytest.mark.parametrize("key", ["A", "_x", "DATABASE_URL", "a1_B2", "K" * 256])
def test_valid_keys(key: str) -> None:
    assert key_problem(key) is None


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("1ABC", "must match"),
        ("A-B", "must match"),
        ("A B", "must match"),
        ("", "must match"),
        ("K" * 257, "longer than 256"),
        ("PORT", "reserved"),
        ("BERTH_APP", "reserved"),
        ("BERTH_ANYTHING", "reserved"),
    ],
)
def test_refused_keys_are_named(key: str, problem: str) -> None:
    error = refusal({key: "value-xyz"})
    (detail,) = error.details
    assert problem in detail.message
    assert (key[:64] if len(key) > 64 else key) in detail.field
    assert "value-xyz" not in error.message


def test_value_limits_name_the_key_not_the_value() -> None:
    big = "Q" * (MAX_VALUE_BYTES + 1)
    error = refusal({"BIG": big, "NUL": "a\x00b", "OK": "fine"})
    assert [d.field for d in error.details] == ["vars.BIG", "vars.NUL"]
    assert "QQQQ" not in error.message and "32 KiB" in error.message
    check_change({"EXACT": "Q" * MAX_VALUE_BYTES}, [])  # the limit itself is allowed
    check_change({"MULTIBYTE": "é" * (MAX_VALUE_BYTES // 2)}, [])


def test_unset_rules() -> None:
    assert refusal({}, ["PORT"]).details[0].field == "unset[0]"
    assert "both set and unset" in refusal({"A": "1"}, ["A"]).message
    assert "give vars" in refusal({}, []).message
    check_change({"A": "1"}, ["B"])


def test_a_key_with_a_trailing_newline_is_refused() -> None:
    (detail,) = refusal({"API_KEY\n": "value-xyz"}).details
    assert "must match" in detail.message
