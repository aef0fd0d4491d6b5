from __future__ import annotations

from berth_agent.runs import decide
from berth_shared import labels
from berth_shared.contracts.desired import DesiredApp, Resources
from berth_shared.contracts.runs import ADOPTED_SEQ, DesiredRun


def app() -> DesiredApp:
    return DesiredApp(
        app_id="app-1",
        name="shop",
        hostname="shop.example.test",
        port=8000,
        subnet="10.80.0.0/28",
        resources=Resources(memory_mb=512, cpus=1.0, pids=256),
    )


def run(**fields: object) -> DesiredRun:
    base: dict[str, object] = {
        "run_id": "run-123456789abcdef",
        "app_id": "app-1",
        "kind": "run",
        "release_id": "rel-1",
        "image": "shop:1",
        "command": ["python", "manage.py", "migrate"],
        "resources": Resources(memory_mb=256, cpus=0.5, pids=128),
    }
    return DesiredRun(**(base | fields))  # type: ignore[arg-type]


def test_the_run_container_is_hardened_like_web_and_labelled_as_the_run() -> None:
    body = decide.run_config(app(), run(), {"SECRET": "s"}, "test", address="10.80.0.9")
    host = body["HostConfig"]
    assert host["CapDrop"] == ["ALL"] and host["Privileged"] is False
    assert host["SecurityOpt"] == ["no-new-privileges:true"] and host["Binds"] == []
    assert host["Memory"] == 256 * 1024 * 1024 and host["PidsLimit"] == 128
    assert body["Labels"][labels.RUN] == "run-123456789abcdef"
    assert body["Labels"][labels.PROCESS] == "run" and body["Labels"][labels.ADDRESS] == "10.80.0.9"
    assert body["Cmd"] == ["python", "manage.py", "migrate"] and body["Image"] == "shop:1"
    assert "SECRET=s" in body["Env"] and "BERTH_RELEASE=rel-1" in body["Env"]
    assert "OpenStdin" not in body


def test_a_cron_run_is_labelled_cron_and_a_run_reading_stdin_keeps_it_open_until_its_end() -> None:
    body = decide.run_config(app(), run(kind="cron", stdin=True), {}, "test", address="10.80.0.9")
    assert body["Labels"][labels.PROCESS] == "cron"
    assert body["OpenStdin"] is True and body["StdinOnce"] is True and body["AttachStdin"] is True


def test_output_is_numbered_in_order_and_keeps_the_last_20_lines() -> None:
    output = decide.Output("r1")
    chunks = [*output.chunks("stdout", b"a\nb"), *output.chunks("stderr", b"c\n")]
    chunks += [output.chunks("stdout", "".join(f"line {i}\n" for i in range(30)).encode())[0]]
    end = output.end(3)
    assert [c.seq for c in [*chunks, end]] == [0, 1, 2, 3]
    assert [c.stream for c in chunks] == ["stdout", "stderr", "stdout"]
    assert end.eof and end.exit_code == 3
    assert list(output.last) == [f"line {i}" for i in range(10, 30)]


def test_a_partial_last_line_and_split_utf8_count_as_one_line() -> None:
    output = decide.Output("r1")
    encoded = "héllo".encode()
    output.chunks("stdout", encoded[:2])
    output.chunks("stdout", encoded[2:])
    output.end(0)
    assert list(output.last) == ["héllo"]


def test_a_large_write_is_split_into_chunks_under_the_limit() -> None:
    chunks = decide.Output("r1").chunks("stdout", b"x" * (decide.MAX_CHUNK_BYTES * 2 + 1))
    assert [len(c.data) for c in chunks] == [decide.MAX_CHUNK_BYTES, decide.MAX_CHUNK_BYTES, 1]


def test_how_a_run_ended() -> None:
    exited = decide.finished(
        run(), "app-1", "r1", exit_code=2, stopped=False, timed_out=False, duration_ms=5, last=["x"]
    )
    assert (exited.outcome, exited.exit_code, exited.reason, exited.last_lines) == ("exited", 2, "", ["x"])
    timed = decide.finished(
        run(timeout_seconds=7), "app-1", "r1", exit_code=143, stopped=False, timed_out=True, duration_ms=7000, last=[]
    )
    assert (timed.outcome, timed.reason) == ("timed_out", "timed out after 7 s")
    stopped = decide.finished(
        run(),
        "app-1",
        "r1",
        exit_code=143,
        stopped=True,
        timed_out=False,
        duration_ms=1,
        last=[],
        stop_reason="replaced by the next run",
    )
    assert (stopped.outcome, stopped.reason) == ("stopped", "replaced by the next run")
    failed = decide.failed_to_start("app-1", "r1", "no free address")
    assert (failed.outcome, failed.exit_code, failed.reason) == ("failed_to_start", None, "no free address")


def test_a_found_container_that_already_ran_is_never_started_again() -> None:
    assert not decide.was_started({"Running": False, "FinishedAt": "0001-01-01T00:00:00Z"})
    assert decide.was_started({"Running": True, "FinishedAt": "0001-01-01T00:00:00Z"})
    assert decide.was_started({"Running": False, "FinishedAt": "2026-12-05T08:00:00.1Z"})


def test_an_adopted_run_keeps_the_rest_of_its_timeout() -> None:
    assert decide.remaining_seconds(60, 45.5) == 14.5
    assert decide.remaining_seconds(60, 90) == 0.0


def test_an_adopted_run_relays_after_a_gap_and_reads_its_last_lines_from_the_engine() -> None:
    output = decide.Output("r1", ADOPTED_SEQ)
    assert output.chunks("stdout", b"x\n")[0].seq == ADOPTED_SEQ
    logged = [f"{i}\n" for i in range(25)] + ["partial"]
    assert decide.last_lines_of(logged) == [*(str(i) for i in range(6, 25)), "partial"]
    assert decide.last_lines_of(["a\r\n", "b\n"]) == ["a", "b"]


def test_a_run_whose_container_was_removed_under_it_is_lost() -> None:
    ended = decide.finished(run(), "app-1", "r1", exit_code=None, stopped=False, timed_out=False, gone=True,
                            duration_ms=3, last=[])  # fmt: skip
    assert (ended.outcome, ended.exit_code, ended.reason) == ("lost", None, "its container was removed while it ran")
