"""Telling "the Docker engine is unreachable" apart from "Docker refused this request"."""

from __future__ import annotations

import aiohttp
from berth_shared.errors import EngineUnavailable

# Raised by aiodocker when the engine's socket cannot be reached or the connection drops.
ENGINE_DOWN_ERRORS: tuple[type[BaseException], ...] = (aiohttp.ClientConnectionError, OSError, TimeoutError)


def engine_unavailable(exc: BaseException) -> EngineUnavailable:
    return EngineUnavailable(f"Docker engine unreachable: {type(exc).__name__}: {exc}")
