"""Every app status transition, as a table: the app as it is, the event, what it becomes (or
nothing). What a user reads in ``status``/``statusReason``/``lastDeployedAt`` comes from here."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from berth_api.app_status import (
    AppFacts,
    Change,
    Crashed,
    Deleted,
    Event,
    Failed,
    FirstServing,
    Live,
    Recovered,
    ReleaseRequested,
    RestartsExhausted,
    Status,
    Unhealthy,
    may_restart,
    transition,
)

R1, R2 = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
GAVE_UP = (
    "unhealthy for 180s after 3 automatic restart(s); Berth stopped restarting it "
    "(fix the app, then deploy or restart it)"
)


def app(
    status: Status,
    *,
    desired: str | None = None,
    current: str | None = None,
    reason: str | None = None,
    deployed: bool = False,
    deleted: bool = False,
) -> AppFacts:
    return AppFacts(status, reason, desired, current, deployed, deleted)


TABLE: list[tuple[str, AppFacts, Event, Change | None]] = [
    # a release is requested
    ("first deploy", app("created"), ReleaseRequested(), Change("deploying")),
    ("deploy over a crash", app("crashed", current=R1, reason="x"), ReleaseRequested(), Change("deploying")),
    (
        "deploy over a failure",
        app("running", current=R1, reason="release failed: y"),
        ReleaseRequested(),
        Change("deploying"),
    ),
    ("deleted app", app("stopped", deleted=True), ReleaseRequested(), None),
    # deleted
    ("delete keeps the reason", app("crashed", reason="x"), Deleted(), Change("stopped", "x")),
    # the first release serves
    ("first release serves", app("deploying", desired=R1), FirstServing(R1), Change("running", deployed="now")),
    ("an old release serves", app("deploying", desired=R2), FirstServing(R1), None),
    ("a later release serves: waits for live", app("deploying", desired=R2, current=R1), FirstServing(R2), None),
    ("served again (redelivery)", app("running", desired=R1, deployed=True), FirstServing(R1), None),
    ("deleted meanwhile", app("stopped", desired=R1, deleted=True), FirstServing(R1), None),
    # live
    (
        "first live after serving keeps its time",
        app("running", desired=R1, deployed=True),
        Live(R1),
        Change("running", deployed="keep"),
    ),
    ("first live without serving", app("deploying", desired=R1), Live(R1), Change("running", deployed="now")),
    (
        "a flip goes live",
        app("deploying", desired=R2, current=R1, deployed=True),
        Live(R2),
        Change("running", deployed="now"),
    ),
    (
        "live while a newer one is desired",
        app("deploying", desired=R2, current=R1, deployed=True),
        Live(R1),
        Change("deploying", deployed="now"),
    ),
    (
        "live clears a failure's reason",
        app("running", desired=R1, current=R1, reason="release failed: z", deployed=True),
        Live(R1),
        Change("running", deployed="now"),
    ),
    ("live of a deleted app", app("stopped", desired=R1, deleted=True), Live(R1), None),
    # failed
    (
        "first release fails",
        app("deploying", desired=R1, deployed=False),
        Failed(R1, "no such image"),
        Change("created", "release failed: no such image", "clear"),
    ),
    (
        "first release fails after it served",
        app("running", desired=R1, deployed=True),
        Failed(R1, "gate"),
        Change("created", "release failed: gate", "clear"),
    ),
    (
        "a flip fails: the live one serves on",
        app("deploying", desired=R2, current=R1, deployed=True),
        Failed(R2, "deadline"),
        Change("running", "release failed: deadline"),
    ),
    ("a superseded release fails", app("deploying", desired=R2, current=R1), Failed(R1, "late"), None),
    ("deleted app's release fails", app("stopped", desired=R1, deleted=True), Failed(R1, "x"), None),
    # crashed
    (
        "live release keeps dying",
        app("running", desired=R1, current=R1),
        Crashed(R1, 3, 5),
        Change("crashed", "exited with code 3 after 5 restarts; Berth stopped restarting it"),
    ),
    (
        "the engine refuses to start it",
        app("running", desired=R1, current=R1),
        Crashed(R1, 143, 5, "task exists"),
        Change("crashed", "task exists; Berth stopped trying"),
    ),
    ("an old release crashed", app("running", desired=R2, current=R2), Crashed(R1, 3, 5), None),
    ("nothing live", app("deploying", desired=R1), Crashed(R1, 3, 5), None),
    (
        "a worker keeps dying: web keeps serving, the reason names the worker",
        app("running", desired=R1, current=R1),
        Crashed(R1, 1, 5, process="worker"),
        Change("running", "process worker crashed: exited with code 1 after 5 restarts; Berth stopped restarting it"),
    ),
    (
        "a worker crashes while its app is unhealthy: still unhealthy",
        app("unhealthy", desired=R1, current=R1, reason="health check failing: HTTP 500"),
        Crashed(R1, 137, 5, process="worker"),
        Change(
            "unhealthy", "process worker crashed: exited with code 137 after 5 restarts; Berth stopped restarting it"
        ),
    ),
    ("a worker of a crashed app", app("crashed", desired=R1, current=R1), Crashed(R1, 1, 5, process="worker"), None),
    ("a worker of an old release", app("running", current=R2), Crashed(R1, 1, 5, process="worker"), None),
    # health
    (
        "turns unhealthy",
        app("running", current=R1),
        Unhealthy(R1, "HTTP 500"),
        Change("unhealthy", "health check failing: HTTP 500"),
    ),
    (
        "unhealthy, no release named",
        app("running", current=R1),
        Unhealthy("", "exited"),
        Change("unhealthy", "health check failing: exited"),
    ),
    (
        "a new failure reason",
        app("unhealthy", current=R1, reason="health check failing: a"),
        Unhealthy(R1, "b"),
        Change("unhealthy", "health check failing: b"),
    ),
    (
        "the gave-up reason stays",
        app("unhealthy", current=R1, reason=GAVE_UP),
        Unhealthy(R1, "b"),
        Change("unhealthy", GAVE_UP),
    ),
    ("an old release unhealthy", app("running", current=R2), Unhealthy(R1, "x"), None),
    ("unhealthy while deploying", app("deploying", desired=R2, current=R1), Unhealthy(R1, "x"), None),
    ("unhealthy after a crash", app("crashed", current=R1), Unhealthy(R1, "x"), None),
    ("recovers", app("unhealthy", current=R1, reason="health check failing: a"), Recovered(), Change("running")),
    ("recovered while running", app("running", current=R1), Recovered(), None),
    ("recovered while deploying", app("deploying", current=R1), Recovered(), None),
    ("gives up", app("unhealthy", current=R1), RestartsExhausted(3, 180.4), Change("unhealthy", GAVE_UP)),
    ("gives up while crashed", app("crashed", current=R1), RestartsExhausted(3, 180), None),
    ("health of a deleted app", app("stopped", current=R1, deleted=True), Recovered(), None),
]


@pytest.mark.parametrize(("name", "facts", "event", "expected"), TABLE, ids=[row[0] for row in TABLE])
def test_transition(name: str, facts: AppFacts, event: Event, expected: Change | None) -> None:
    assert transition(facts, event) == expected


@pytest.mark.parametrize(
    ("facts", "allowed"),
    [
        (app("running", current=R1), True),
        (app("unhealthy", current=R1), True),
        (app("deploying", current=R1), False),
        (app("crashed", current=R1), False),
        (app("created"), False),
        (app("stopped", deleted=True), False),
    ],
)
def test_automatic_restarts_only_while_health_applies(facts: AppFacts, allowed: bool) -> None:
    assert may_restart(facts) is allowed


def test_facts_are_read_from_an_apps_row() -> None:
    row = {
        "status": "running",
        "status_reason": None,
        "desired_release_id": R1,
        "current_release_id": None,
        "last_deployed_at": datetime(2030, 1, 1, tzinfo=UTC),
        "deleted_at": None,
    }
    assert AppFacts.of(row) == app("running", desired=R1, deployed=True)
