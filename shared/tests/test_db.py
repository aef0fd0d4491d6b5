"""How many rows a DELETE removed, read from its command status."""

from __future__ import annotations

from berth_shared.db import deleted_rows


def test_deleted_rows_reads_the_delete_command_status() -> None:
    assert deleted_rows("DELETE 0") == 0
    assert deleted_rows("DELETE 42") == 42
