"""Which lines of an insert go into one chunk of the search index, and the words each holds."""

from __future__ import annotations

from berth_logs.chunks import plan_chunks


def test_each_app_gets_its_own_chunks() -> None:
    starts, words = plan_chunks(["a", "a", "b", "b", "b"], ["x 1", "x 2", "y", "y", "z"])
    assert starts == [True, False, True, False, False]
    assert [set(w.split()) for w in words] == [{"x", "1", "2"}, {"y", "z"}]
    assert all(w.startswith(" ") and w.endswith(" ") for w in words)


def test_a_chunk_ends_at_its_line_limit() -> None:
    starts, words = plan_chunks(["a"] * 5, [f"line {i}" for i in range(5)], max_lines=2)
    assert starts == [True, False, True, False, True]
    assert [set(w.split()) for w in words] == [{"line", "0", "1"}, {"line", "2", "3"}, {"line", "4"}]


def test_a_chunk_whose_words_do_not_fit_is_halved_until_they_do() -> None:
    messages = ["aaaa", "aaaa", "aaaa", "aaaa", "bbbb cccc", "dddd", "eeee", "ffff gggg hhhh"]
    starts, words = plan_chunks(["a"] * 8, messages, max_chars=11)
    # The first half's words fit in 11 characters; the second half is halved until each part's
    # words fit or it is one line (a line is never split).
    assert starts == [True, False, False, False, True, True, True, True]
    assert [set(w.split()) for w in words] == [
        {"aaaa"},
        {"bbbb", "cccc"},
        {"dddd"},
        {"eeee"},
        {"ffff", "gggg", "hhhh"},
    ]
    assert all(len(w) <= 11 for w in words[:-1])


def test_no_lines_no_chunks() -> None:
    assert plan_chunks([], []) == ([], [])
