"""Telling "the Docker engine is unreachable" apart from "Docker refused this request".

Only the second may fail a release; the first must postpone the work (the command is naked
and redelivered), so an engine restart never turns into a failed deploy.
"""

from __future__ import annotations

import aiodocker
import aiohttp
from berth_shared.errors import EngineUnavailable

# aiodocker reports "cannot connect to the engine" as a DockerError with this status.
ENGINE_UNREACHABLE_STATUS = 900
ENGINE_DOWN_ERRORS: tuple[type[BaseException], ...] = (aiohttp.ClientConnectionError, OSError, TimeoutError)


def is_engine_down(exc: BaseException) -> bool:
    if isinstance(exc, aiodocker.DockerError):
        return exc.status == ENGINE_UNREACHABLE_STATUS
    return isinstance(exc, ENGINE_DOWN_ERRORS)


def engine_unavailable(exc: BaseException) -> EngineUnavailable:
    return EngineUnavailable(f"Docker engine unreachable: {exc}")


def raise_if_engine_down(exc: BaseException) -> None:
    if is_engine_down(exc):
        raise engine_unavailable(exc) from exc
