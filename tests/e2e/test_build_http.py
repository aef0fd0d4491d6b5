"""Builds over plain HTTP (`POST /api/apps/{id}/builds` with a tar.gz body, as any client may
send it): the build's `RUN` steps run under the documented default limits (1 GiB of memory, no
swap on top, 1 CPU), read from their own cgroup; an upload over 200 MiB is refused with 413
`payload_too_large` and a hint, streamed or declared, and leaves no release behind."""

from __future__ import annotations

import io
import json
import select
import socket
import subprocess
import tarfile
import time
import uuid
from typing import Any

import pytest
from berth_testing import RunningPlatform, api_error, wait_for

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024
LIMIT = 200 * MIB

# cgroup v1 paths first, then v2 (the engine may use either).
PRINT_LIMITS = (
    'RUN echo "run={marker}"'
    ' && echo "memory=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)"'
    ' && echo "swap=$(cat /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes 2>/dev/null'
    ' || cat /sys/fs/cgroup/memory.swap.max)"'
    ' && echo "cpu=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cut -d" " -f1 /sys/fs/cgroup/cpu.max)'
    '/$(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us 2>/dev/null || cut -d" " -f2 /sys/fs/cgroup/cpu.max)"\n'
)


def context(dockerfile: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def values(build_log: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in build_log.splitlines():
        for name in ("memory", "swap", "cpu"):
            if line.strip().startswith(f"{name}="):
                found[name] = line.strip().split("=", 1)[1]
    return found


def test_a_build_runs_under_the_default_limits(platform: RunningPlatform, test_images: dict[str, str]) -> None:
    assert platform.api.post("/api/apps", json={"name": "httpbuild"}).status_code == 201
    # A marker of this run in the step: the engine's build cache would skip a step it has run.
    body = context(f"FROM {test_images['v1']}\n" + PRINT_LIMITS.replace("{marker}", uuid.uuid4().hex))
    response = platform.api.post(
        "/api/apps/httpbuild/builds", content=body, headers={"Content-Type": "application/gzip"}, timeout=120
    )
    assert response.status_code == 202, response.text
    release_id = response.json()["id"]

    def done() -> dict[str, Any] | None:
        r = platform.api.get(f"/api/apps/httpbuild/releases/{release_id}").json()
        assert r["status"] != "failed", r["reason"]
        return r if r["status"] == "live" else None

    live = wait_for(done, timeout=600, what="the build to go live")
    limits = values(live["buildLog"])
    assert limits["memory"] == str(1024 * MIB), live["buildLog"]
    assert limits["swap"] in (str(1024 * MIB), "0"), live["buildLog"]  # memswap = memory: no swap on top
    quota, period = (int(v) for v in limits["cpu"].split("/"))
    assert quota == period, live["buildLog"]  # one CPU
    assert platform.proxy_get("httpbuild.berth.test").text == "v1\n"
    app_id = platform.api.get("/api/apps/httpbuild").json()["id"]
    assert platform.api.delete("/api/apps/httpbuild").status_code == 202
    wait_for(lambda: not platform.containers(app_id), timeout=60, what="the app's containers removed")
    subprocess.run(["docker", "rmi", live["imageDigest"]], capture_output=True)  # the agent leaves built images


def post_stream(p: RunningPlatform, path: str, total: int, *, chunked: bool) -> tuple[int, dict[str, Any], int]:
    """POST ``total`` bytes (Content-Length, or chunked) until the server answers; its status,
    JSON body and how much was sent. Nothing is held in memory."""
    port = int(p.env["BERTH_API_PORT"])
    head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Authorization: Bearer {p.token}"]
    head += ["Content-Type: application/gzip", "Connection: close"]
    head += ["Transfer-Encoding: chunked"] if chunked else [f"Content-Length: {total}"]
    piece = b"\0" * (256 * 1024)
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        while sent < total and not select.select([sock], [], [], 0)[0]:
            chunk = piece[: total - sent]
            try:
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        if chunked and sent >= total:
            sock.sendall(b"0\r\n\r\n")
        answer = b""
        deadline = time.monotonic() + 120
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < _length(answer):
            assert time.monotonic() < deadline, answer
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    head_text, _, body = answer.partition(b"\r\n\r\n")
    status = int(head_text.split(b" ", 2)[1])
    return status, json.loads(body[: _length(answer)]), sent


def _length(answer: bytes) -> int:
    head = answer.split(b"\r\n\r\n", 1)[0].decode(errors="replace").lower()
    for line in head.split("\r\n"):
        if line.startswith("content-length:"):
            return int(line.split(":", 1)[1])
    return 1 << 62


@pytest.mark.parametrize("chunked", [True, False], ids=["streamed", "declared"])
def test_an_upload_over_200_mib_is_refused_with_413_and_no_release(platform: RunningPlatform, chunked: bool) -> None:
    name = f"toobig-{'s' if chunked else 'd'}"
    assert platform.api.post("/api/apps", json={"name": name}).status_code == 201
    status, body, sent = post_stream(platform, f"/api/apps/{name}/builds", LIMIT + MIB, chunked=chunked)
    assert status == 413, body
    assert body["error"]["code"] == "payload_too_large" and ".dockerignore" in body["error"]["message"], body
    assert sent <= LIMIT + MIB
    assert platform.api.get(f"/api/apps/{name}/releases").json()["items"] == []
    # The API goes on answering, and a small build body is still taken in.
    api_error(platform.api.get(f"/api/apps/{name}/releases/none"), 404, "not_found")
