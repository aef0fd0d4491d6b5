"""The per-app log budget (a setting): how many lines a second an app may write, sustained, and
in a burst, before the runtime agent drops the excess (and says so in the app's logs).

``BERTH_LOG_LINES_PER_SECOND`` (default 5,000) and ``BERTH_LOG_BURST_LINES`` (default 20,000, at
least one second's worth). The agent enforces it; the API reports it with the app's counters.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from berth_shared.settings import _int

DEFAULT_LINES_PER_SECOND = 5000
DEFAULT_BURST_LINES = 20000
RATE_ENV = "BERTH_LOG_LINES_PER_SECOND"
BURST_ENV = "BERTH_LOG_BURST_LINES"
MAX_LINES_PER_SECOND = 10_000_000


@dataclass(frozen=True)
class LogBudget:
    lines_per_second: int = DEFAULT_LINES_PER_SECOND
    burst: int = DEFAULT_BURST_LINES


def log_budget(env: Mapping[str, str] | None = None) -> LogBudget:
    """The budget from the environment; a bad value is ValidationFailed naming the variable."""
    env = os.environ if env is None else env
    rate = _int(env, RATE_ENV, DEFAULT_LINES_PER_SECOND, 1, MAX_LINES_PER_SECOND)
    burst = _int(env, BURST_ENV, max(DEFAULT_BURST_LINES, rate), 1, MAX_LINES_PER_SECOND)
    return LogBudget(rate, max(burst, rate))
