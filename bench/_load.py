"""Load through the proxy that runs until it is told to stop: no request cap, no time cap of its
own (the caller stops it after the last flip), every outcome recorded with when it started and
ended. Only ever targets 127.0.0.1 (the proxy)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class Stream:
    """One kind of request sent in a loop by ``workers`` threads, each on its own keep-alive
    client: ``name`` labels it in reports."""

    name: str
    hostname: str
    method: str
    path: str
    body: bytes = b""
    workers: int = 2
    timeout: float = 30


@dataclass(frozen=True)
class Outcome:
    stream: str
    method: str
    start: float
    end: float
    status: int  # 0 when no HTTP response came back
    error: str = ""

    @property
    def latency(self) -> float:
        return self.end - self.start

    @property
    def failed(self) -> bool:
        return self.status != 200


class OpenEndedLoad:
    """Sends each stream's requests until :meth:`stop`; a safety ``limit_seconds`` only guards
    against a bench that hangs, and :attr:`cut_short` says if it ever struck."""

    def __init__(self, proxy_port: int, streams: list[Stream], limit_seconds: float = 6 * 3600) -> None:
        self.base = f"http://127.0.0.1:{proxy_port}"
        self.streams = streams
        self.limit_seconds = limit_seconds
        self.cut_short = False
        self.outcomes: list[Outcome] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> OpenEndedLoad:
        self.started = time.monotonic()
        for stream in self.streams:
            for _ in range(stream.workers):
                thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
                thread.start()
                self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop sending; requests in flight finish and are recorded."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)
        self.stopped = time.monotonic()

    def snapshot(self) -> list[Outcome]:
        with self._lock:
            return list(self.outcomes)

    def _run(self, stream: Stream) -> None:
        deadline = self.started + self.limit_seconds
        url = f"{self.base}{stream.path}"
        with httpx.Client(headers={"Host": stream.hostname}, timeout=stream.timeout) as client:
            while not self._stop.is_set():
                if time.monotonic() > deadline:
                    self.cut_short = True
                    return
                start = time.monotonic()
                try:
                    r = client.request(stream.method, url, content=stream.body or None)
                    outcome = Outcome(stream.name, stream.method, start, time.monotonic(), r.status_code)
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"
                    outcome = Outcome(stream.name, stream.method, start, time.monotonic(), 0, error)
                with self._lock:
                    self.outcomes.append(outcome)
