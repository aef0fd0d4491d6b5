"""The edge's per-route decisions: who must authenticate before the body is read, the caps."""

from __future__ import annotations

import pytest
from berth_api.edge import gate
from berth_api.edge.gate import Auth

POLICIES = [
    ("POST", "/api/apps", Auth.REQUIRED, gate.JSON_CAP),
    ("GET", "/api/apps", Auth.REQUIRED, gate.JSON_CAP),
    ("PATCH", "/api/apps/web", Auth.REQUIRED, gate.JSON_CAP),
    ("GET", "/api/openapi.json", Auth.REQUIRED, gate.JSON_CAP),
    ("GET", "/api/docs", Auth.REQUIRED, gate.JSON_CAP),
    ("OPTIONS", "/api/apps", Auth.REQUIRED, gate.JSON_CAP),
    ("GET", "/api", Auth.REQUIRED, gate.JSON_CAP),
    ("GET", "/api/nope", Auth.REQUIRED, gate.JSON_CAP),
    ("POST", "/api/apps/web/builds", Auth.REQUIRED, None),
    ("GET", "/api/apps/web/builds", Auth.REQUIRED, gate.JSON_CAP),
    ("POST", "/api/apps/web/builds/x", Auth.REQUIRED, gate.JSON_CAP),
    ("POST", "/api/session", Auth.NONE, gate.SIGN_IN_CAP),
    ("GET", "/api/session", Auth.OPTIONAL, gate.SIGN_IN_CAP),
    ("DELETE", "/api/session", Auth.NONE, gate.SIGN_IN_CAP),
    ("PUT", "/api/session", Auth.REQUIRED, gate.JSON_CAP),
    ("GET", "/", Auth.NONE, gate.JSON_CAP),
    ("GET", "/healthz", Auth.NONE, gate.JSON_CAP),
    ("GET", "/apps/web/logs", Auth.NONE, gate.JSON_CAP),
    ("GET", "/apis", Auth.NONE, gate.JSON_CAP),
]


@pytest.mark.parametrize(("method", "path", "auth", "cap"), POLICIES)
def test_every_api_path_but_the_sign_in_needs_a_token_before_its_body(
    method: str, path: str, auth: Auth, cap: int | None
) -> None:
    chosen = gate.policy(method, path)
    assert (chosen.auth, chosen.body_cap) == (auth, cap)


def test_only_the_sign_in_checks_a_token_in_its_body() -> None:
    assert gate.policy("POST", "/api/session").route_checks_token
    assert not any(gate.policy(m, p).route_checks_token for m, p, *_ in POLICIES if p != "/api/session")


def test_nothing_authenticates_itself_yet() -> None:
    assert gate.SELF_AUTHENTICATING == ()


@pytest.mark.parametrize(
    ("authorization", "cookie", "expected"),
    [(None, None, False), ("", "", False), ("Bearer x", None, True), ("Basic eA==", None, True), (None, "sid", True)],
)
def test_a_request_without_any_credentials_is_not_an_attempt(
    authorization: str | None, cookie: str | None, expected: bool
) -> None:
    assert gate.has_credentials(authorization, cookie) is expected


@pytest.mark.parametrize(
    ("length", "cap", "expected"),
    [
        ("1048576", gate.JSON_CAP, False),
        ("1048577", gate.JSON_CAP, True),
        ("314572800", gate.JSON_CAP, True),
        ("314572800", None, False),
        (None, gate.JSON_CAP, False),
        ("junk", gate.JSON_CAP, False),
    ],
)
def test_a_declared_length_over_the_cap_is_refused_up_front(
    length: str | None, cap: int | None, expected: bool
) -> None:
    assert gate.over_cap(length, cap) is expected


def test_the_413_message_names_the_limit() -> None:
    assert gate.cap_message(gate.JSON_CAP) == "request body larger than 1 MiB"
    assert gate.cap_message(gate.SIGN_IN_CAP) == "request body larger than 16 KiB"
