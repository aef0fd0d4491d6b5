"""An app's formation — process types, release command, cron jobs — validated once (ADR 0026).

The same rules for ``berth.toml`` (snake_case keys; each problem named ``berth.toml: <path>``)
and for the HTTP API (camelCase keys; named by the body's path):

    [processes]
    web = { command = "gunicorn app:app", count = 2 }      # command optional for web: the image's CMD
    worker = { command = "python worker.py", memory_mb = 256 }
    beat = "python beat.py"                                 # a command alone: count 1
    release = "python manage.py migrate"                    # or { command = "…", timeout_seconds = 300 }
    [[cron]]
    name = "nightly"
    schedule = "0 3 * * *"                                  # or @daily, @every 30s (berth_api.cron.schedule)
    timezone = "Europe/Berlin"                              # default UTC
    command = "python manage.py report"
    timeout_seconds = 3600
    concurrency = "forbid"                                  # forbid | allow (at most 3 at once) | replace
    catch_up = false

Pure: data in, a :class:`Formation` or :class:`ValidationFailed` (with every problem) out.
"""

from __future__ import annotations

import shlex
from collections.abc import Collection, Mapping
from typing import Any

from berth_shared.contracts.processes import (
    CONCURRENCY,
    CRON_ALLOW_MAX,
    CRON_NAME,
    CRON_TIMEOUT_DEFAULT,
    CRON_TIMEOUT_MAX,
    MAX_COMMAND_CHARS,
    MAX_COUNT,
    MAX_CRON_JOBS,
    MAX_PROCESS_TYPES,
    PROCESS_NAME,
    RELEASE_TIMEOUT_DEFAULT,
    RELEASE_TIMEOUT_MAX,
    RESERVED_NAMES,
    WEB,
    CronJob,
    Formation,
    ProcessSpec,
    ReleaseCommand,
    counts_of,
)
from berth_shared.netplan import formation_fits

from berth_api.config_problems import Problems, Style
from berth_api.config_problems import table as _table
from berth_api.config_problems import unknown as _unknown
from berth_api.config_problems import whole as _whole
from berth_api.cron.schedule import ScheduleError, parse, zone

SECTIONS = ("processes", "release", "cron")
_CAMEL = {
    "memory_mb": "memoryMb",
    "timeout_seconds": "timeoutSeconds",
    "catch_up": "catchUp",
    "release": "releaseCommand",
}


def parse_formation(data: Mapping[str, Any], *, style: Style) -> Formation:
    """The formation in ``data`` (its ``processes``, ``release`` — ``releaseCommand`` in JSON —
    and ``cron`` keys; other keys are the caller's). Absent sections are empty."""
    problems = Problems(style, _CAMEL)
    processes: list[ProcessSpec] = []
    release: ReleaseCommand | None = None
    cron: list[CronJob] = []
    if (raw := data.get("processes")) is not None:
        processes = _processes(raw, problems)
    if (raw := data.get(problems.key("release"))) is not None:
        release = _release(raw, problems)
    if (raw := data.get("cron")) is not None:
        cron = _cron(raw, problems)
    problems.raise_any()
    return Formation(processes=processes, release_command=release, cron=cron)


def given_sections(data: Mapping[str, Any], *, style: Style) -> frozenset[str]:
    """Which sections ``data`` states (``processes``, ``release``, ``cron``): only those replace
    the previous release's (see :func:`merge`)."""
    keys = {"processes": "processes", "release": "releaseCommand" if style == "json" else "release", "cron": "cron"}
    return frozenset(section for section, key in keys.items() if key in data)


def merge(previous: Formation | None, given: Formation, sections: Collection[str]) -> Formation:
    """A new release's formation: each section ``given`` states replaces the previous release's;
    the others carry over (a deploy of a new image keeps its processes, cron jobs and release command)."""
    base = previous or Formation()
    return Formation(
        processes=given.processes if "processes" in sections else base.processes,
        release_command=given.release_command if "release" in sections else base.release_command,
        cron=given.cron if "cron" in sections else base.cron,
    )


def check_fits(formation: Formation, subnet: str, *, style: Style) -> None:
    """422 naming ``processes`` when the formation's rollout needs more addresses than the app's
    network has (``netplan.formation_fits``)."""
    problem = formation_fits(subnet, counts_of(formation))
    if problem is not None:
        problems = Problems(style, _CAMEL)
        problems.add(problem, "processes")
        problems.raise_any()


def _command(raw: Any, problems: Problems, *parts: str | int, required: bool = True) -> list[str]:
    if isinstance(raw, str):
        if "\x00" in raw:
            problems.add("must not contain a NUL character", *parts)
            return []
        try:
            argv = shlex.split(raw)
        except ValueError as exc:
            problems.add(f"cannot be split into words: {exc}", *parts)
            return []
    elif isinstance(raw, list) and all(isinstance(arg, str) for arg in raw):
        argv = list(raw)
        if any("\x00" in arg for arg in argv):
            problems.add("must not contain a NUL character", *parts)
            return []
    else:
        problems.add("must be a command line (a string) or a list of strings", *parts)
        return []
    if not argv and required:
        problems.add("must not be empty", *parts)
    elif sum(len(arg) + 1 for arg in argv) > MAX_COMMAND_CHARS:
        problems.add(f"is longer than {MAX_COMMAND_CHARS} characters", *parts)
        return []
    return argv


def _number(raw: Any, low: float, high: float, problems: Problems, *parts: str | int) -> float | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        problems.add("must be a number", *parts)
        return None
    if not low <= raw <= high:
        problems.add(f"must be between {low:g} and {high:g}", *parts)
        return None
    return float(raw)


def _processes(raw: Any, problems: Problems) -> list[ProcessSpec]:
    table = _table(raw, problems, "processes")
    if table is None:
        return []
    if len(table) > MAX_PROCESS_TYPES:
        problems.add(f"at most {MAX_PROCESS_TYPES} process types", "processes")
    specs: list[ProcessSpec] = []
    for name, value in table.items():
        if not isinstance(name, str) or not PROCESS_NAME.fullmatch(name):
            message = "a process name is 1-30 lowercase letters, digits and '-', starting with a letter"
            problems.add(message, "processes", str(name))
            continue
        if name in RESERVED_NAMES:
            problems.add(f"is reserved for Berth's one-off containers ({', '.join(sorted(RESERVED_NAMES))})",
                         "processes", name)  # fmt: skip
            continue
        spec = _process(name, value, problems)
        if spec is not None:
            specs.append(spec)
    return specs


def _process(name: str, value: Any, problems: Problems) -> ProcessSpec | None:
    if isinstance(value, str | list):
        value = {"command": value}
    table = _table(value, problems, "processes", name)
    if table is None:
        return None
    _unknown(table, ("command", "count", "memory_mb", "cpus"), problems, "processes", name)
    command: list[str] = []
    if "command" in table:
        command = _command(table["command"], problems, "processes", name, "command", required=name != WEB)
    elif name != WEB:
        problems.add("required (only web may run the image's CMD)", "processes", name, "command")
    count = _whole(table.get("count", 1), 0, MAX_COUNT, problems, "processes", name, "count")
    memory_key, memory = problems.key("memory_mb"), None
    if memory_key in table:
        memory = _whole(table[memory_key], 32, 65536, problems, "processes", name, memory_key)
    cpus = _number(table["cpus"], 0.05, 64, problems, "processes", name, "cpus") if "cpus" in table else None
    if count is None:
        return None
    return ProcessSpec(name=name, command=command, count=count, memory_mb=memory, cpus=cpus)


def _release(raw: Any, problems: Problems) -> ReleaseCommand | None:
    key = problems.key("release")
    if isinstance(raw, str | list):  # the command alone: its problems name the key it was given as
        command = _command(raw, problems, key)
        return ReleaseCommand(command=command, timeout_seconds=RELEASE_TIMEOUT_DEFAULT) if command else None
    table = _table(raw, problems, key)
    if table is None:
        return None
    _unknown(table, ("command", "timeout_seconds"), problems, key)
    if "command" not in table:
        problems.add("required", key, "command")
        return None
    command = _command(table["command"], problems, key, "command")
    timeout_key = problems.key("timeout_seconds")
    timeout = _whole(
        table.get(timeout_key, RELEASE_TIMEOUT_DEFAULT), 1, RELEASE_TIMEOUT_MAX, problems, key, timeout_key
    )
    if not command or timeout is None:
        return None
    return ReleaseCommand(command=command, timeout_seconds=timeout)


def _cron(raw: Any, problems: Problems) -> list[CronJob]:
    if not isinstance(raw, list):
        problems.add("must be a list of jobs ([[cron]] tables)" if problems.style == "toml" else "must be a list",
                     "cron")  # fmt: skip
        return []
    if len(raw) > MAX_CRON_JOBS:
        problems.add(f"at most {MAX_CRON_JOBS} jobs", "cron")
        return []
    jobs: list[CronJob] = []
    names: set[str] = set()
    for index, value in enumerate(raw):
        job = _job(index, value, problems)
        if job is None:
            continue
        if job.name in names:
            problems.add(f"another job is named {job.name!r}", "cron", index, "name")
            continue
        names.add(job.name)
        jobs.append(job)
    return jobs


def _job(index: int, value: Any, problems: Problems) -> CronJob | None:
    table = _table(value, problems, "cron", index)
    if table is None:
        return None
    known = ("name", "schedule", "timezone", "command", "timeout_seconds", "concurrency", "catch_up")
    _unknown(table, known, problems, "cron", index)
    before = len(problems.found)
    for required in ("name", "schedule", "command"):
        if required not in table:
            problems.add("required", "cron", index, required)
    name = table.get("name")
    if "name" in table and (not isinstance(name, str) or not CRON_NAME.fullmatch(name)):
        problems.add("a job name is 1-63 lowercase letters, digits, '-' and '_'", "cron", index, "name")
    schedule = table.get("schedule")
    if "schedule" in table:
        try:
            if not isinstance(schedule, str):
                raise ScheduleError("must be a string such as '0 3 * * *', '@daily' or '@every 30s'")
            parse(schedule)
        except ScheduleError as exc:
            problems.add(str(exc), "cron", index, "schedule")
    timezone = table.get("timezone", "UTC")
    try:
        zone(timezone)
    except ScheduleError as exc:
        problems.add(str(exc), "cron", index, "timezone")
    command = _command(table["command"], problems, "cron", index, "command") if "command" in table else []
    timeout_key = problems.key("timeout_seconds")
    timeout = _whole(table.get(timeout_key, CRON_TIMEOUT_DEFAULT), 1, CRON_TIMEOUT_MAX, problems, "cron", index,
                     timeout_key)  # fmt: skip
    concurrency = table.get("concurrency", "forbid")
    if concurrency not in CONCURRENCY:
        problems.add(
            f"must be one of {', '.join(CONCURRENCY)} (allow: at most {CRON_ALLOW_MAX} runs at once)",
            "cron", index, "concurrency",
        )  # fmt: skip
    catch_up_key = problems.key("catch_up")
    catch_up = table.get(catch_up_key, False)
    if not isinstance(catch_up, bool):
        problems.add("must be true or false", "cron", index, catch_up_key)
    if len(problems.found) > before or timeout is None:
        return None
    return CronJob(
        name=str(name),
        schedule=" ".join(str(schedule).split()),
        command=command,
        timezone=str(timezone),
        timeout_seconds=timeout,
        concurrency=concurrency,
        catch_up=catch_up,
    )
