"""Reading values for `berth env set` from dotenv text."""

from __future__ import annotations

import pytest
from berth_cli.client import CliError
from berth_cli.commands.env import parse_dotenv


def test_dotenv_lines() -> None:
    text = "# comment\n\nexport A=1\nB = two words \nC='quoted # not a comment'\nD=\"x=y\"\nE=\n"
    assert parse_dotenv(text) == {"A": "1", "B": "two words", "C": "quoted # not a comment", "D": "x=y", "E": ""}


def test_a_line_without_equals_names_its_number() -> None:
    with pytest.raises(CliError, match="line 2"):
        parse_dotenv("A=1\nnonsense\n")
