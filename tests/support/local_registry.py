"""A registry on 127.0.0.1 (Debian's docker-registry, the one kind that can exist here), and
images that only it has, so Berth must pull them."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
from berth_testing import build_busybox_image, free_port, wait_for


@contextlib.contextmanager
def local_registry(root: Path) -> Iterator[str]:
    """Serve a registry with its data under ``root``; yields its address (``127.0.0.1:PORT``)."""
    binary = shutil.which("docker-registry")
    assert binary, "docker-registry is installed by `make test` (scripts/bootstrap.sh --dev)"
    port = free_port()
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {root / 'data'}\nhttp:\n  addr: 127.0.0.1:{port}\n"
    )
    proc = subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/v2/", timeout=2).status_code == 200, what="registry")
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def registry_only_image(registry: str, name: str, text: str) -> str:
    """Build an image serving ``text``, push it as ``<registry>/<name>`` and remove it from the
    host: only the registry has it. Returns the remote name."""
    local = f"berth-test/push-{name.replace('/', '-').replace(':', '-')}"
    remote = f"{registry}/{name}"
    build_busybox_image(local, text)
    subprocess.run(["docker", "tag", local, remote], check=True, capture_output=True)
    subprocess.run(["docker", "push", remote], check=True, capture_output=True)
    subprocess.run(["docker", "rmi", local, remote], check=True, capture_output=True)
    return remote


def image_id(name: str) -> str | None:
    """The id of the image ``name`` on this host, or None."""
    found = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", name], capture_output=True, text=True)
    return found.stdout.strip() if found.returncode == 0 else None
