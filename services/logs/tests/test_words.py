"""A chunk's words and the patterns a search needs of them: every line containing the search
string (case-insensitively) has words its chunk's patterns match."""

from __future__ import annotations

import random
import re

import pytest
from berth_logs.words import chunk_patterns, escape_like, words_of, words_text


def test_like_wildcards_are_escaped() -> None:
    assert escape_like("100%_done\\") == "100\\%\\_done\\\\"


def test_words_are_runs_between_ascii_punctuation_spaces_and_controls() -> None:
    words = words_of(["GET /api/items?id=42 200\tok — naïve→done", "/GET 42 again\n"])
    assert words == {"GET", "api", "items", "id", "42", "200", "ok", "—", "naïve→done", "again"}
    assert words_of(["-- ==", ""]) == set()
    assert words_text(["a", "b"]) == " a b "


def test_a_search_string_without_word_characters_has_no_patterns() -> None:
    assert chunk_patterns("== --> ") == []


@pytest.mark.parametrize(
    ("q", "patterns"),
    [
        ("timeout", ["%timeout%"]),  # anywhere inside a word
        ("user=1234 ", ["%user %", "% 1234 %"]),  # ends a word; a whole word
        ("=1234", ["% 1234%"]),  # begins a word
        ("req-0042 took", ["%req %", "% 0042 %", "% took%"]),
        ("100%_x\\y", ["%100 %", "% x %", "% y%"]),
        ("50%", ["%50 %"]),
    ],
)
def test_each_run_of_word_characters_is_anchored_where_the_string_has_a_delimiter(q: str, patterns: list[str]) -> None:
    assert chunk_patterns(q) == patterns


def like(pattern: str, text: str) -> bool:
    """SQL LIKE with backslash escapes, as Postgres reads the patterns."""
    parts = re.findall(r"\\.|%|_|[^\\%_]+", pattern)
    regex = "".join(".*" if p == "%" else "." if p == "_" else re.escape(p[-1] if p[0] == "\\" else p) for p in parts)
    return re.fullmatch(regex, text, re.DOTALL) is not None


ALPHABET = "abcXYZ019 =-/_%.:\\é→"


def test_every_line_containing_the_string_matches_its_chunks_patterns() -> None:
    rng = random.Random(3)
    for _ in range(3000):
        line = "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(1, 30)))
        start = rng.randrange(len(line))
        q = line[start : rng.randrange(start + 1, len(line) + 1)]
        q = "".join(c.upper() if rng.random() < 0.3 else c for c in q)  # ILIKE: any case
        chunk = words_text(words_of(["other line", line])).lower()
        assert all(like(p.lower(), chunk) for p in chunk_patterns(q)), (line, q)
