"""Following a json-file log on a real filesystem through the engine's rotations (rename, delete)."""

from __future__ import annotations

import os
from pathlib import Path

from berth_agent.logs.decide_json_file import Loss, Spot
from berth_agent.logs.json_file import JsonFileLog


def rotate(path: Path, max_file: int) -> None:
    """What the engine does at max-size: ``.n-1`` -> ``.n`` (the last one deleted), the file -> ``.1``, a new file."""
    last = Path(f"{path}.{max_file - 1}")
    last.unlink(missing_ok=True)
    for index in range(max_file - 1, 1, -1):
        older = Path(f"{path}.{index - 1}")
        if older.exists():
            older.rename(f"{path}.{index}")
    path.rename(f"{path}.1")
    path.touch()


def write(path: Path, text: str) -> None:
    with path.open("a") as file:
        file.write(text)


def test_the_open_file_is_read_to_its_end_after_a_rename_then_the_next_one(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    write(log, "a\n")
    files = JsonFileLog(str(log))
    opened = files.open_at(None)
    assert opened is not None and not opened.at_spot
    assert files.read() == b"a\n" and files.read() == b""
    assert not files.look()

    write(log, "b\n")  # written before the rotation, read after it
    rotate(log, 3)
    write(log, "c\n")
    assert files.look() and files.read() == b"b\n" and files.read() == b""
    switched = files.switch()
    assert switched is not None and switched.loss is Loss.NONE
    assert files.read() == b"c\n"
    assert not files.look()


def test_a_file_deleted_after_its_successor_was_seen_is_read_on_without_loss(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    write(log, "a\n")
    files = JsonFileLog(str(log))
    assert files.open_at(None) is not None
    rotate(log, 2)
    write(log, "b\n")
    assert files.look()  # notes the file after the open one
    rotate(log, 2)  # the open file (.1) is deleted; its successor is now .1
    write(log, "c\n")
    assert files.read() == b"a\n"  # the deleted file is still read through its descriptor
    switched = files.switch()
    assert switched is not None and switched.loss is Loss.NONE
    assert files.read() == b"b\n"


def test_the_next_file_held_open_once_seen_is_read_though_deleted_and_its_inode_reused(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    write(log, "a\n")
    seen = JsonFileLog(str(log))
    unseen = JsonFileLog(str(log))
    assert seen.open_at(None) is not None and unseen.open_at(None) is not None
    rotate(log, 2)
    write(log, "b\n")
    assert seen.look()  # saw (and holds) its successor; ``unseen`` looks only after it is gone
    for text in ("c\n", "d\n"):
        rotate(log, 2)  # the new files may get the deleted ones' inode numbers
        write(log, text)
        seen.look()  # a look while it waits for an ack: holds "c" too
    assert unseen.look()

    assert seen.read() == b"a\n"
    switched = seen.switch()
    assert switched is not None and switched.loss is Loss.NONE
    assert seen.read() == b"b\n"  # deleted, read through the held descriptor
    assert seen.read() == b"" and seen.look()
    switched = seen.switch()
    assert switched is not None and switched.loss is Loss.NONE and seen.read() == b"c\n"

    assert unseen.read() == b"a\n"
    switched = unseen.switch()
    assert switched is not None and switched.loss is Loss.MAYBE
    assert unseen.read() == b"c\n"  # the oldest file there; "b" was deleted unread


def test_a_read_begins_again_where_the_last_one_ended_while_that_file_is_there(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    write(log, "a\nb\n")
    ino = os.stat(log).st_ino
    files = JsonFileLog(str(log))
    opened = files.open_at(Spot(ino, 2))
    assert opened is not None and opened.at_spot and files.read() == b"b\n"
    assert files.spot(0) == Spot(ino, 4)
    rotate(log, 2)
    rotate(log, 2)  # that file is gone: the oldest one there, from its start
    write(tmp_path / "c-json.log.1", "x\n")
    files.close()
    opened = files.open_at(Spot(ino, 4))
    assert opened is not None and not opened.at_spot and files.read() == b"x\n"


def test_no_file_no_read(tmp_path: Path) -> None:
    assert JsonFileLog(str(tmp_path / "missing-json.log")).open_at(None) is None


def test_a_file_truncated_in_place_is_read_again_from_its_start(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    write(log, "a\nb\n")
    files = JsonFileLog(str(log))
    assert files.open_at(None) is not None and files.read() == b"a\nb\n"
    log.write_text("c\n")  # max-file 1: the engine truncates instead of renaming
    assert not files.look() and files.truncated()
    files.rewind()
    assert files.read() == b"c\n"


def test_at_most_two_files_are_held_for_a_stalled_reader_then_a_gap_may_follow(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    write(log, "a\n")
    files = JsonFileLog(str(log))
    assert files.open_at(None) is not None
    for text in ("b\n", "c\n", "d\n", "e\n"):
        rotate(log, 2)
        write(log, text)
        files.look()  # holds "b" and "c", not more
    assert files.read() == b"a\n"
    for text in ("b\n", "c\n"):
        switched = files.switch()
        assert switched is not None and switched.loss is Loss.NONE and files.read() == text.encode()
        files.look()
    # "c" was deleted before the file after it was seen: the oldest there ("d") follows, and
    # whether another was between them the names cannot tell.
    switched = files.switch()
    assert switched is not None and switched.loss is Loss.MAYBE and files.read() == b"d\n"
