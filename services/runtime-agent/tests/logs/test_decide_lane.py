"""The lane a container's log batches take: bulk once it flushes many lines, until quiet."""

from __future__ import annotations

from berth_agent.logs.decide_lane import BULK_LINES, QUIET_SECONDS, Lane


def test_a_quiet_container_stays_on_the_prompt_lane() -> None:
    lane = Lane()
    assert [lane.bulk(n, t) for t, n in enumerate([1, 5, BULK_LINES - 1, 0])] == [False] * 4


def test_a_flooding_container_takes_the_bulk_lane_until_it_has_been_quiet() -> None:
    lane = Lane()
    assert lane.bulk(BULK_LINES, 100.0)
    # Its small flushes right after (the tail of a burst) stay behind its big ones.
    assert lane.bulk(3, 100.0 + QUIET_SECONDS / 2)
    assert not lane.bulk(3, 100.0 + QUIET_SECONDS)
