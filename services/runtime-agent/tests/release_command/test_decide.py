from berth_agent.release_command.decide import LAST_LINES, MAX_LINE_CHARS, Lines, failure_reason


def test_chunks_become_whole_lines_and_a_partial_one_waits_for_its_end() -> None:
    lines = Lines()
    assert lines.feed("one\ntw") == ["one"]
    assert lines.feed("o\r\nthree") == ["two"]
    assert lines.finish() == ["three"]
    assert lines.finish() == []


def test_only_the_last_lines_are_kept_and_an_endless_line_is_cut() -> None:
    lines = Lines()
    lines.feed("".join(f"{n}\n" for n in range(25)))
    assert list(lines.last) == [str(n) for n in range(25 - LAST_LINES, 25)]
    assert lines.feed("x" * (MAX_LINE_CHARS + 5)) == ["x" * MAX_LINE_CHARS]


def test_the_reason_names_the_exit_code_or_the_timeout_and_the_last_lines() -> None:
    assert failure_reason(0, False, 300, ["done"]) is None
    assert failure_reason(3, False, 300, ["a", "b"]) == "release command exited with 3: a\nb"
    assert failure_reason(137, True, 5, []) == "release command timed out after 5 s"
