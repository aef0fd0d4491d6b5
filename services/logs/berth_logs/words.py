"""The words of log lines as the search index holds them, and what a search string needs of them.

A *word* is a longest run of characters other than ASCII punctuation, spaces and controls (every
character outside ASCII belongs to words). A chunk of the index (``chunks``) holds the distinct
words of its lines, between spaces and lowercased by Postgres: ``" get api items 200 "``.

A search ``q`` matches a line when the line contains it case-insensitively, as ``ILIKE`` compares
(both lowercased, one character at a time). Then each run of ``q``'s word characters lies inside
one word of the line, since lowercasing never turns a word character into a delimiter or back:
a run between two delimiters of ``q`` is a whole word, a run starting ``q`` ends a word, a run
ending it begins one, and a run that is all of ``q`` is somewhere inside one.
:func:`chunk_patterns` gives one ``LIKE`` pattern per run, to be compared with the chunk's words
after lowering: a chunk missing one cannot hold a match; a chunk matching all of them may.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

# ASCII other than letters and digits (NUL never reaches Postgres text). The migration that
# built chunks for lines stored before them splits with the same class in SQL (``migrations.py``).
_DELIMITERS = re.compile(r"[\x00-/:-@\[-`{-\x7f]+")
_WORD = re.compile(r"[^\x00-/:-@\[-`{-\x7f]+")


def escape_like(text: str) -> str:
    """``text`` as a literal inside a LIKE pattern (backslash is the escape character)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def words_of(messages: Sequence[str]) -> set[str]:
    """The distinct words of ``messages``."""
    words = set(_DELIMITERS.split("\n".join(messages)))
    words.discard("")
    return words


def words_text(words: Iterable[str]) -> str:
    """A chunk's words as stored (before Postgres lowers them): each between spaces."""
    return " " + " ".join(words) + " "


def chunk_patterns(q: str) -> list[str]:
    """One LIKE pattern (to be lowered) per run of ``q``'s word characters, anchored by spaces on
    the sides where ``q`` has a delimiter; empty when ``q`` has no word character (the index
    cannot help)."""
    patterns = []
    for run in _WORD.finditer(q):
        start, end = run.span()
        before = " " if start > 0 else ""
        after = " " if end < len(q) else ""
        patterns.append(f"%{before}{escape_like(run.group())}{after}%")
    return patterns
