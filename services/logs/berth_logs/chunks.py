"""The search index's chunks of one insert: which lines go together and the words they hold.

Lines are stored without a text index (maintaining a trigram index per line cost more than the
insert itself). Instead each insert groups every app's lines, in the order they get their ids,
into chunks of at most :data:`MAX_LINES` lines whose distinct words (``words.py``) fit in
:data:`MAX_WORD_CHARS` characters, and stores one ``chunks`` row per group: the app, the first
and last line id and timestamp, and the words, under a trigram index. A chunk's words repeat
far less than its lines' text, so the index gets several times fewer entries per line. Chunks
of one app never overlap in ids (``ingest.store`` takes its ids in one go under a lock), which
lets a search walk them in id order (``search.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

from berth_logs.words import words_of, words_text

MAX_LINES = 256
# A chunk's row stays inline and uncompressed in its page (the table's toast_tuple_target): a
# search compares many chunks' words, and decompressing them cost more than comparing.
MAX_WORD_CHARS = 6000


def plan_chunks(
    apps: Sequence[str], messages: Sequence[str], max_lines: int = MAX_LINES, max_chars: int = MAX_WORD_CHARS
) -> tuple[list[bool], list[str]]:
    """For lines already in insert order with each app's lines together: whether each line
    starts a chunk, and each chunk's words (in chunk order). A chunk is up to ``max_lines`` of
    one app's consecutive lines, halved until its words fit ``max_chars`` (or it is one line)."""
    starts = [False] * len(messages)
    texts: list[str] = []
    run = 0
    for end in range(1, len(apps) + 1):
        if end == len(apps) or apps[end] != apps[run]:
            for first in range(run, end, max_lines):
                for start, text in _fitting(messages, first, min(first + max_lines, end), max_chars):
                    starts[start] = True
                    texts.append(text)
            run = end
    return starts, texts


def _fitting(messages: Sequence[str], first: int, end: int, max_chars: int) -> list[tuple[int, str]]:
    """Lines ``first`` to ``end`` as one chunk (its first line and words), or as the chunks of
    its two halves when its words do not fit."""
    text = words_text(words_of(messages[first:end]))
    if len(text) <= max_chars or end - first == 1:
        return [(first, text)]
    middle = (first + end) // 2
    return _fitting(messages, first, middle, max_chars) + _fitting(messages, middle, end, max_chars)
