"""Validation errors name the field with its full path."""

from __future__ import annotations

from berth_api.errors import field_path


def test_body_prefix_is_dropped_and_nesting_dotted() -> None:
    assert field_path(("body", "resources", "memoryMb")) == "resources.memoryMb"


def test_list_indexes() -> None:
    assert field_path(("body", "unset", 2)) == "unset[2]"


def test_query_parameters() -> None:
    assert field_path(("query", "limit")) == "limit"


def test_whole_body() -> None:
    assert field_path(("body",)) == "body"
