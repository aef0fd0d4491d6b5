"""Builds from source, the pure part: the /build query and limits, the builder's messages → log
lines and outcome, and the batching into BuildLog chunks."""

from __future__ import annotations

import json

from berth_agent.builds import decide as builds
from berth_agent.builds import decide_isolation as build_isolation
from berth_agent.builds.decide import BuildOutput, LineBatcher, MessageSplitter
from berth_shared.contracts.builds import BuildSpec

SPEC = BuildSpec(context_object="ctx-1", size_bytes=100, dockerfile="docker/Dockerfile.prod", memory_mb=512, cpus=1.5)


def test_query_caps_memory_without_swap_and_cpu_as_a_quota() -> None:
    isolation = build_isolation.isolation_params("berth-prod-build", "/berth-build-prod")
    params = builds.build_params(SPEC, "berth-build/web:v3", builds.image_labels("prod", "app1", "rel1"), isolation)
    assert params["t"] == "berth-build/web:v3"
    assert params["dockerfile"] == "docker/Dockerfile.prod"
    assert params["memory"] == params["memswap"] == str(512 * 1024 * 1024)
    assert (params["cpuperiod"], params["cpuquota"]) == ("100000", "150000")
    assert (params["rm"], params["forcerm"], params["pull"]) == ("1", "1", "0")
    assert "version" not in params  # the legacy builder
    # Every RUN step on the instance's build network, under the cgroup parent with the process limit.
    assert (params["networkmode"], params["cgroupparent"]) == ("berth-prod-build", "/berth-build-prod")
    assert "securityopt" not in params  # the engine refuses it on Linux
    assert json.loads(params["labels"]) == {
        "berth.managed": "true",
        "berth.instance": "prod",
        "berth.app": "app1",
        "berth.release": "rel1",
    }
    assert all(isinstance(v, str) for v in params.values())


def test_tiny_cpu_shares_stay_above_the_engines_minimum_quota() -> None:
    spec = BuildSpec(context_object="c", size_bytes=1, cpus=0.001)
    assert builds.build_params(spec, "t", {}, {})["cpuquota"] == "1000"


def test_messages_split_across_chunks_and_raw_lines() -> None:
    splitter = MessageSplitter()
    first = splitter.feed(b'{"stream":"Step 1/2 : FROM x\\n"}\r\n{"stre')
    second = splitter.feed(b'am":" ---> abc\\n"}\r\nnot json\n')
    assert first == [{"stream": "Step 1/2 : FROM x\n"}]
    assert second == [{"stream": " ---> abc\n"}, {"stream": "not json\n"}]
    assert splitter.feed(b'{"aux":{"ID":"sha256:f"}}') == []
    assert splitter.finish() == [{"aux": {"ID": "sha256:f"}}]
    assert splitter.finish() == []


def test_stream_text_becomes_lines_partial_lines_are_joined() -> None:
    out = BuildOutput()
    assert out.feed({"stream": "Step 1/3 : FROM berth-test/web:v1\n ---> 1a2b"}) == [
        "Step 1/3 : FROM berth-test/web:v1"
    ]
    assert out.feed({"stream": "3c\n"}) == [" ---> 1a2b3c"]
    assert out.feed({"stream": "Step 2/3 : RUN echo hi\n ---> Running in 0123456789ab\n"}) == [
        "Step 2/3 : RUN echo hi",
        " ---> Running in 0123456789ab",
    ]
    assert out.feed({"stream": "hi\r\n"}) == ["hi"]
    assert out.feed({"aux": {"ID": "sha256:abc"}}) == []
    assert out.feed({"stream": "no newline at the end"}) == []
    assert out.finish() == ["no newline at the end"]
    assert (out.image_id, out.containers, out.failed) == ("sha256:abc", ["0123456789ab"], False)


def test_status_lines_without_progress_bars() -> None:
    out = BuildOutput()
    assert out.feed({"status": "Pulling from library/busybox", "id": "latest"}) == [
        "latest: Pulling from library/busybox"
    ]
    assert out.feed({"status": "Downloading", "progressDetail": {"current": 1, "total": 9}, "id": "a1"}) == []
    assert out.feed({"status": "Download complete", "progressDetail": {}, "id": "a1"}) == ["a1: Download complete"]


def test_a_failing_run_is_the_outcome_and_the_last_line() -> None:
    out = BuildOutput()
    out.feed({"stream": "Step 2/2 : RUN exit 3\n ---> Running in fedcba987654\n"})
    error = "The command '/bin/sh -c exit 3' returned a non-zero code: 3"
    lines = out.feed({"errorDetail": {"code": 3, "message": error}, "error": error})
    assert lines == [f"ERROR: {error}"]
    assert out.failed and out.error == error
    assert out.containers == ["fedcba987654"]
    assert builds.failure_reason(out.error) == f"build failed: {error}"


def test_error_shapes_first_error_wins() -> None:
    out = BuildOutput()
    out.feed({"errorDetail": {"message": "only the detail"}})
    out.feed({"error": "second"})
    assert out.error == "only the detail"
    api_shape = BuildOutput()
    assert api_shape.feed({"message": "Cannot locate specified Dockerfile: Dockerfile"}) == [
        "ERROR: Cannot locate specified Dockerfile: Dockerfile"
    ]
    assert api_shape.error == "Cannot locate specified Dockerfile: Dockerfile"
    assert not BuildOutput().feed({"stream": ""}) and not BuildOutput().failed


def test_reasons() -> None:
    assert builds.timeout_reason(30) == "build timed out after 30s"
    assert builds.failure_reason("  multi\nline   error ") == "build failed: multi line error"
    assert builds.failure_reason("") == "build failed: the builder reported an error"
    oom = builds.failure_reason("The command '/bin/sh -c make' returned a non-zero code: 137", 256)
    assert oom.endswith("(killed: out of memory? builds are limited to 256 MiB)")
    assert len(builds.failure_reason("x" * 10_000)) < 2_100


def test_long_lines_are_capped() -> None:
    out = BuildOutput()
    [line] = out.feed({"stream": "y" * 20_000 + "\n"})
    assert len(line) == builds.LINE_MAX_CHARS + len(builds.TRUNCATED) and line.endswith(builds.TRUNCATED)
    endless = out.feed({"stream": "z" * (builds.LINE_MAX_CHARS + 5)})  # no newline in sight: emitted anyway
    assert len(endless) == 1 and endless[0].startswith("zzz")


def test_batches_every_200ms_seq_from_zero() -> None:
    batcher = LineBatcher()
    assert batcher.take() is None and not batcher.due(0.0)
    batcher.add(["a", "b"], now=10.0)
    assert not batcher.due(10.1)
    batcher.add(["c"], now=10.15)
    assert batcher.due(10.25)
    assert batcher.take() == (0, ["a", "b", "c"])
    batcher.add(["d"], now=11.0)
    assert not batcher.due(11.1) and batcher.due(11.25)
    assert batcher.take() == (1, ["d"])
    assert batcher.take() is None


def test_big_output_is_cut_into_bounded_chunks_in_order() -> None:
    batcher = LineBatcher(start=7)
    lines = [f"line {i}" for i in range(1_234)]
    batcher.add(lines, now=0.0)
    assert batcher.due(0.0)  # too many lines to wait
    chunks = []
    while (chunk := batcher.take()) is not None:
        chunks.append(chunk)
    assert [seq for seq, _ in chunks] == [7, 8, 9]
    assert [line for _, part in chunks for line in part] == lines
    assert all(len(part) <= builds.BATCH_MAX_LINES for _, part in chunks)
    wide = LineBatcher()
    wide.add(["w" * 8_000] * 100, now=0.0)
    first = wide.take()
    assert first is not None and sum(len(x) for x in first[1]) <= builds.BATCH_MAX_BYTES


def test_an_existing_tag_counts_only_when_built_for_this_release() -> None:
    mine = {"Id": "sha256:1", "Config": {"Labels": {"berth.release": "rel1", "berth.app": "a"}}}
    assert builds.built_for(mine, "rel1")
    assert not builds.built_for(mine, "rel2")  # e.g. a deleted app of the same name
    assert not builds.built_for({"Id": "sha256:2", "Config": {"Labels": None}}, "rel1")  # a hand-made tag
    assert not builds.built_for({"Id": "sha256:3"}, "rel1")
    assert not builds.built_for(None, "rel1")


def test_a_step_that_could_not_fork_names_the_process_limit() -> None:
    out = BuildOutput()
    out.feed({"stream": "/bin/sh: can't fork: Resource temporarily unavailable\n"})
    out.feed({"errorDetail": {"message": "The command '/bin/sh -c x' returned a non-zero code: 2"}})
    assert out.fork_refused
    assert builds.failure_reason(out.error, 256, 512) == (
        "build failed: The command '/bin/sh -c x' returned a non-zero code: 2"
        " (out of processes: build steps are limited to 512)"
    )
    assert not BuildOutput().fork_refused
