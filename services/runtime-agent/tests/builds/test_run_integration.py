"""Builds from source against real Docker and NATS: the context comes from the object store (put
there with the API's NATS user, as the API does), the agent builds it under limits and a
timeout, streams the log, and deploys the image like any other."""

from __future__ import annotations

import contextlib
import io
import os
import tarfile
import tempfile
import uuid
from collections.abc import AsyncIterator

import aiodocker
import pytest
from agent_harness import Harness, eventually, get_text, release
from berth_agent.builds.decide_isolation import BUILD_PIDS_MAX
from berth_agent.builds.run import BuildFailed
from berth_shared.contracts.builds import BUILDS_BUCKET, BuildLog, BuildSpec
from berth_shared.contracts.desired import DesiredRelease
from berth_shared.contracts.releases import ReleaseFailed, ReleaseLive, ReleaseStep
from berth_shared.netplan import slot_address

pytestmark = pytest.mark.integration

MEMORY_MB = 96
# cgroup v2 or v1, whichever the host has: the RUN container's memory limit, in bytes.
SHOW_MEMORY_LIMIT = "RUN cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes\n"


def tar_gz(files: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


async def put_context(h: Harness, files: dict[str, str], **spec: object) -> BuildSpec:
    """Store a tar.gz build context the way the API does (its NATS user, the provisioned bucket)."""
    store = await h.api.nc.jetstream().object_store(BUILDS_BUCKET)
    data = tar_gz(files)
    name = f"ctx-{uuid.uuid4().hex}"
    await store.put(name, data)
    return BuildSpec(context_object=name, size_bytes=len(data), **spec)


def build_release(app_name: str, version: int, spec: BuildSpec) -> DesiredRelease:
    return release(f"berth-build/{app_name}:v{version}", build=spec)


def log_lines(h: Harness, release_id: str) -> list[str]:
    chunks = h.events.of(BuildLog, release_id=release_id)
    return [line for chunk in chunks for line in chunk.lines]


def intermediate_containers(lines: list[str]) -> list[str]:
    return [line.split("Running in ", 1)[1].strip() for line in lines if "Running in " in line]


async def gone(docker: aiodocker.Docker, container_ids: list[str]) -> bool:
    for container_id in container_ids:
        try:
            await docker.containers.container(container_id).show()
            return False
        except aiodocker.DockerError as exc:
            if exc.status != 404:
                raise
    return True


async def tag_exists(docker: aiodocker.Docker, tag: str) -> bool:
    try:
        await docker.images.inspect(tag)
        return True
    except aiodocker.DockerError as exc:
        if exc.status == 404:
            return False
        raise


@pytest.fixture
async def built_tags(harness: Harness) -> AsyncIterator[list[str]]:
    tags: list[str] = []
    yield tags
    # Agents stopped and containers removed first (nothing restores them), so removing the tags
    # removes the built layers too.
    for ctx, _ in harness.agents[:1]:
        with contextlib.suppress(Exception):
            await ctx.pool.execute("DELETE FROM images WHERE instance = $1", harness.instance)
            await ctx.pool.execute("DELETE FROM log_cursors WHERE instance = $1", harness.instance)
    for _, task in list(harness.agents):
        await harness.kill_agent(task)
    await harness.remove_everything()
    for tag in tags:
        with contextlib.suppress(aiodocker.DockerError):
            await harness.docker.images.delete(tag, force=True)


async def test_a_build_goes_live_serves_the_added_file_and_logs_in_order(
    harness: Harness, test_images: dict[str, str], built_tags: list[str]
) -> None:
    h = harness
    await h.start_agent()
    app = h.new_app(name=f"b{uuid.uuid4().hex[:8]}")
    spec = await put_context(
        h,
        {
            "Dockerfile": f"FROM {test_images['v1']}\nCOPY added.txt /www/added.txt\n"
            f"RUN echo one && echo two && echo three # {uuid.uuid4()}\n" + SHOW_MEMORY_LIMIT,
            "added.txt": "added by the build\n",
        },
        memory_mb=MEMORY_MB,
    )
    rel = build_release(app.name, 1, spec)
    built_tags.append(rel.image)
    await h.api.set_release(app.app_id, rel)
    outcome = await h.events.wait_outcome(rel.release_id, timeout=120)
    assert isinstance(outcome, ReleaseLive), outcome

    base = f"http://{slot_address(app.subnet, 'a')}:8080"
    assert await get_text(f"{base}/added.txt") == "added by the build\n"
    assert await get_text(f"{base}/") == "v1\n"

    image = await h.docker.images.inspect(f"berth-build/{app.name}:v1")
    assert image["Id"] == outcome.image_digest
    assert image["Config"]["Labels"]["berth.app"] == app.app_id
    assert image["Config"]["Labels"]["berth.release"] == outcome.release_id
    assert image["Config"]["Labels"]["berth.instance"] == h.instance

    resolved = h.events.of(ReleaseStep, release_id=outcome.release_id, step="image.resolved")[0]
    assert resolved.detail.startswith("built from source in ") and resolved.detail.endswith(outcome.image_digest)
    assert h.events.steps(outcome.release_id)[0] == "image.resolved"

    chunks = h.events.of(BuildLog, release_id=outcome.release_id)
    assert [c.seq for c in chunks] == list(range(len(chunks)))  # published in order, seq from 0
    lines = log_lines(h, outcome.release_id)
    steps = [line for line in lines if line.startswith("Step ")]
    assert steps[0].startswith("Step 1/") and steps[0].endswith(": FROM berth-test/web:v1")
    assert any(" : RUN cat /sys/fs/cgroup/" in step for step in steps)
    assert lines.index("one") < lines.index("two") < lines.index("three")
    assert str(MEMORY_MB * 1024 * 1024) in lines  # the RUN container ran under the build's memory limit
    assert await gone(h.docker, intermediate_containers(lines))

    # Registered with the image pruner as built by Berth (its to prune once no app keeps it).
    ctx = h.agents[0][0]
    refs = await ctx.pool.fetch("SELECT ref, image_id, origin FROM images WHERE instance = $1", h.instance)
    assert (rel.image, outcome.image_digest, "built") in [(r["ref"], r["image_id"], r["origin"]) for r in refs]


async def test_a_failing_run_fails_the_release_with_the_builders_error_and_v1_keeps_serving(
    harness: Harness, test_images: dict[str, str], built_tags: list[str]
) -> None:
    h = harness
    await h.start_agent()
    app = h.new_app(name=f"b{uuid.uuid4().hex[:8]}")
    first = release(test_images["v1"])
    await h.api.set_release(app.app_id, first)
    assert isinstance(await h.events.wait_outcome(first.release_id), ReleaseLive)

    spec = await put_context(h, {"Dockerfile": f"FROM {test_images['v1']}\nRUN echo about to fail && exit 3\n"})
    rel = build_release(app.name, 2, spec)
    built_tags.append(rel.image)
    await h.api.set_release(app.app_id, rel)
    outcome = await h.events.wait_outcome(rel.release_id, timeout=120)
    assert isinstance(outcome, ReleaseFailed), outcome
    assert outcome.reason == (
        "build failed: The command '/bin/sh -c echo about to fail && exit 3' returned a non-zero code: 3"
    )
    assert h.events.steps(outcome.release_id) == []  # nothing of the rollout happened
    assert await get_text(f"http://{slot_address(app.subnet, 'a')}:8080/") == "v1\n"
    assert [c["Config"]["Labels"]["berth.release"] for c in await h.containers(app.app_id)] == [first.release_id]
    lines = log_lines(h, outcome.release_id)
    assert "about to fail" in lines and lines[-1].startswith("ERROR: The command")
    assert await gone(h.docker, intermediate_containers(lines))
    assert not await tag_exists(h.docker, rel.image)


async def test_a_build_over_its_timeout_is_stopped_and_leaves_no_container(
    harness: Harness, test_images: dict[str, str], built_tags: list[str]
) -> None:
    h = harness
    await h.start_agent()
    app = h.new_app(name=f"b{uuid.uuid4().hex[:8]}")
    marker = uuid.uuid4().hex[:8]
    spec = await put_context(
        h, {"Dockerfile": f"FROM {test_images['v1']}\nRUN echo {marker} && sleep 60\n"}, timeout_seconds=3
    )
    rel = build_release(app.name, 1, spec)
    built_tags.append(rel.image)
    await h.api.set_release(app.app_id, rel)
    outcome = await h.events.wait_outcome(rel.release_id, timeout=30)
    assert isinstance(outcome, ReleaseFailed), outcome
    assert outcome.reason == "build timed out after 3s"
    lines = log_lines(h, outcome.release_id)
    assert marker in lines and lines[-1] == "berth: build timed out after 3s"
    running_in = intermediate_containers(lines)
    assert running_in
    await eventually(lambda: gone(h.docker, running_in), timeout=15)
    assert not await tag_exists(h.docker, rel.image)
    assert await h.containers(app.app_id) == []


async def test_missing_context_or_dockerfile_fails_the_release(
    harness: Harness, test_images: dict[str, str], built_tags: list[str]
) -> None:
    h = harness
    await h.start_agent()
    app = h.new_app(name=f"b{uuid.uuid4().hex[:8]}")
    spec = await put_context(h, {"Dockerfile": f"FROM {test_images['v1']}\n"})
    missing = build_release(app.name, 1, BuildSpec(context_object="ctx-nothing-here", size_bytes=10))
    await h.api.set_release(app.app_id, missing)
    outcome = await h.events.wait_outcome(missing.release_id)
    assert isinstance(outcome, ReleaseFailed)
    assert outcome.reason == "build failed: build context ctx-nothing-here not found (uploads are kept for 24 hours)"

    elsewhere = BuildSpec(context_object=spec.context_object, size_bytes=spec.size_bytes, dockerfile="Dockerfile.prod")
    no_dockerfile = build_release(app.name, 2, elsewhere)
    built_tags.append(no_dockerfile.image)
    await h.api.set_release(app.app_id, no_dockerfile)
    outcome = await h.events.wait_outcome(no_dockerfile.release_id)
    assert isinstance(outcome, ReleaseFailed)
    assert outcome.reason.startswith("build failed: ") and "Dockerfile.prod" in outcome.reason, outcome.reason


async def test_an_agent_killed_mid_build_leaves_no_build_container_and_the_next_one_builds_again(
    harness: Harness, test_images: dict[str, str], built_tags: list[str]
) -> None:
    h = harness
    agent = await h.start_agent()
    app = h.new_app(name=f"b{uuid.uuid4().hex[:8]}")
    spec = await put_context(
        h,
        {
            "Dockerfile": f"FROM {test_images['v1']}\nRUN echo sleeping && sleep 4 # {uuid.uuid4()}\n"
            "COPY added.txt /www/added.txt\n",
            "added.txt": "second try\n",
        },
    )
    rel = build_release(app.name, 1, spec)
    built_tags.append(rel.image)
    await h.api.set_release(app.app_id, rel)
    await eventually(lambda: "sleeping" in log_lines(h, rel.release_id), timeout=60)
    running_in = intermediate_containers(log_lines(h, rel.release_id))
    assert running_in
    await h.kill_agent(agent)
    # The engine sees the connection close, cancels the build, kills and removes the step's container.
    await eventually(lambda: gone(h.docker, running_in), timeout=15)
    assert not await tag_exists(h.docker, rel.image)

    await h.start_agent()  # level-triggered: the tag is still missing, so it builds again
    outcome = await h.events.wait_outcome(rel.release_id, timeout=120)
    assert isinstance(outcome, ReleaseLive), outcome
    assert await get_text(f"http://{slot_address(app.subnet, outcome.slot)}:8080/added.txt") == "second try\n"


async def test_a_large_context_is_read_with_the_agents_credentials_and_bounded_by_its_size(
    harness: Harness, test_images: dict[str, str]
) -> None:
    """Reading many chunks exercises the ordered consumer's flow control ($JS.FC) under the
    agent's NATS permissions; a context bigger than announced is refused."""
    h = harness
    await h.start_agent()
    agent = await h.agent()
    payload = os.urandom(12 * 1024 * 1024).hex()  # 24 MiB of text that gzip cannot shrink much
    spec = await put_context(h, {"Dockerfile": f"FROM {test_images['v1']}\n", "blob.txt": payload})
    builder = agent.builder
    assert builder is not None
    with tempfile.TemporaryFile() as into:
        assert await builder.fetch_context(spec, into) == spec.size_bytes
        into.seek(0)
        with tarfile.open(fileobj=into, mode="r:gz") as tar:
            blob = tar.extractfile("blob.txt")
            assert blob is not None and blob.read().decode() == payload

    understated = BuildSpec(context_object=spec.context_object, size_bytes=spec.size_bytes - 1)
    with tempfile.TemporaryFile() as into, pytest.raises(BuildFailed) as refused:
        await builder.fetch_context(understated, into)
    assert refused.value.reason == "build failed: the build context is larger than announced"


async def test_a_stale_tag_of_the_same_name_is_built_over(
    harness: Harness, test_images: dict[str, str], built_tags: list[str]
) -> None:
    """berth-build/<app>:v1 left by a deleted app of the same name (or another instance on this
    engine) must not be deployed in place of this release's build."""
    h = harness
    await h.start_agent()
    app = h.new_app(name=f"b{uuid.uuid4().hex[:8]}")
    stale = f"berth-build/{app.name}:v1"
    built_tags.append(stale)
    await h.docker.images.tag(test_images["v2"], f"berth-build/{app.name}", tag="v1")
    spec = await put_context(
        h, {"Dockerfile": f"FROM {test_images['v1']}\nCOPY added.txt /www/added.txt\n", "added.txt": "fresh\n"}
    )
    rel = build_release(app.name, 1, spec)
    await h.api.set_release(app.app_id, rel)
    outcome = await h.events.wait_outcome(rel.release_id, timeout=120)
    assert isinstance(outcome, ReleaseLive), outcome
    base = f"http://{slot_address(app.subnet, 'a')}:8080"
    assert await get_text(f"{base}/") == "v1\n" and await get_text(f"{base}/added.txt") == "fresh\n"
    assert (await h.docker.images.inspect(test_images["v2"]))["Id"] != outcome.image_digest


async def test_a_fork_bomb_in_a_build_step_hits_the_process_limit_and_fails_cleanly(
    harness: Harness, test_images: dict[str, str], built_tags: list[str]
) -> None:
    """Bounded: 2000 sleepers, four times the limit; without it the step would succeed."""
    h = harness
    await h.start_agent()
    app = h.new_app(name=f"b{uuid.uuid4().hex[:8]}")
    bomb = 'RUN i=0; while [ "$i" -lt 2000 ]; do sleep 30 & i=$((i+1)); done; echo all forked\n'
    spec = await put_context(h, {"Dockerfile": f"FROM {test_images['v1']}\n" + bomb})
    rel = build_release(app.name, 1, spec)
    built_tags.append(rel.image)
    await h.api.set_release(app.app_id, rel)
    outcome = await h.events.wait_outcome(rel.release_id, timeout=120)
    assert isinstance(outcome, ReleaseFailed), outcome
    assert outcome.reason.endswith(f"(out of processes: build steps are limited to {BUILD_PIDS_MAX})"), outcome
    lines = log_lines(h, rel.release_id)
    assert "all forked" not in lines
    assert any("can't fork" in line for line in lines)
    assert await gone(h.docker, intermediate_containers(lines))  # the sleepers went with their container


async def test_a_build_step_over_its_memory_is_killed_and_says_so(
    harness: Harness, test_images: dict[str, str], built_tags: list[str]
) -> None:
    h = harness
    await h.start_agent()
    app = h.new_app(name=f"b{uuid.uuid4().hex[:8]}")
    hog = "RUN dd if=/dev/zero of=/dev/null bs=256M count=1 && echo allocated\n"  # a 256 MiB buffer
    spec = await put_context(h, {"Dockerfile": f"FROM {test_images['v1']}\n" + hog}, memory_mb=64)
    rel = build_release(app.name, 1, spec)
    built_tags.append(rel.image)
    await h.api.set_release(app.app_id, rel)
    outcome = await h.events.wait_outcome(rel.release_id, timeout=120)
    assert isinstance(outcome, ReleaseFailed), outcome
    assert outcome.reason.endswith("non-zero code: 137 (killed: out of memory? builds are limited to 64 MiB)")
    assert "allocated" not in log_lines(h, rel.release_id)


PRIVILEGED_ATTEMPTS = (
    "RUN exec 2>/dev/null; (mount -t tmpfs none /mnt && echo MOUNTED) || echo mount-refused; "
    "(ip link add berthprobe type bridge && echo LINK-ADDED) || echo link-refused; "
    "(ip link set eth0 down && echo LINK-DOWN) || echo ifdown-refused; "
    "(mknod /tmp/disk b 8 0 && head -c 1 /tmp/disk >/dev/null && echo DISK-READ) || echo disk-refused; "
    "(mknod /tmp/mem c 1 1 && head -c 1 /tmp/mem >/dev/null && echo MEM-READ) || echo mem-refused; "
    "grep pids /proc/self/cgroup; cat /etc/resolv.conf\n"
)


async def test_build_steps_get_no_privileges_and_run_in_the_builds_network_and_cgroup(
    harness: Harness, test_images: dict[str, str], built_tags: list[str]
) -> None:
    h = harness
    await h.start_agent()
    app = h.new_app(name=f"b{uuid.uuid4().hex[:8]}")
    spec = await put_context(h, {"Dockerfile": f"FROM {test_images['v1']}\n{PRIVILEGED_ATTEMPTS}"})
    rel = build_release(app.name, 1, spec)
    built_tags.append(rel.image)
    await h.api.set_release(app.app_id, rel)
    outcome = await h.events.wait_outcome(rel.release_id, timeout=120)
    assert isinstance(outcome, ReleaseLive), outcome
    lines = log_lines(h, rel.release_id)
    for refused in ("mount-refused", "link-refused", "ifdown-refused", "disk-refused", "mem-refused"):
        assert refused in lines, lines
    assert not {"MOUNTED", "LINK-ADDED", "LINK-DOWN", "DISK-READ", "MEM-READ"} & set(lines)
    assert any(f":pids:/berth-build-{h.instance}/" in line for line in lines), lines
    assert "nameserver 127.0.0.11" in lines  # Docker's embedded DNS: a user-defined network
    network = await h.docker.networks.get(f"berth-{h.instance}-build")
    info = await network.show()
    assert info["Options"]["com.docker.network.bridge.name"] == f"berthb-{h.instance}"[:15]
