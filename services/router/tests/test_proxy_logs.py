"""Caddy's log entries as lines of an app's proxy log, and the folding of repeats."""

from __future__ import annotations

from typing import Any, cast

from berth_router.proxy_logs import Note, ProxyLog, Throttle, note_of, rfc3339_ns


def access(status: int, host: str = "shop.berth.test:8080", uri: str = "/cart?token=s3cret") -> dict[str, Any]:
    return {
        "logger": "http.log.access",
        "level": "error",
        "msg": "handled request",
        "status": status,
        "request": {"host": host, "method": "POST", "uri": uri, "headers": {"Cookie": ["REDACTED"]}},
    }


def test_a_proxy_made_failure_becomes_a_routing_line_without_the_query_string() -> None:
    note = note_of(access(503))
    assert note == Note(
        host="shop.berth.test",
        kind="routing",
        key="routing:503",
        message="routing: 503 for POST /cart on shop.berth.test: no healthy slot (Caddy answered for the app)",
    )
    assert note_of(access(502)) is not None and note_of(access(504)) is not None


def test_the_503_of_an_app_without_a_web_instance_says_so() -> None:
    entry = {**access(503), "resp_headers": {"X-Berth-Route": ["no-instance"], "Content-Type": ["text/html"]}}
    note = note_of(entry)
    assert note is not None and note.key == "routing:503:no-instance"
    assert note.message == "routing: 503 for POST /cart on shop.berth.test: no web instance (web is scaled to 0)"


def test_the_apps_own_error_answers_are_not_the_proxys_business() -> None:
    assert note_of(access(404)) is None
    assert note_of(access(500)) is None


def test_certificate_steps_become_tls_lines_and_caddys_housekeeping_does_not() -> None:
    step = {
        "logger": "http.acme_client",
        "level": "info",
        "msg": "trying to solve challenge",
        "identifier": "Shop.Example.com",
        "challenge_type": "http-01",
    }
    assert note_of(step) == Note(
        "shop.example.com",
        "tls",
        "tls:trying to solve challenge",
        "tls: shop.example.com: trying to solve challenge (http-01)",
    )
    assert note_of({"logger": "tls.obtain", "level": "info", "msg": "acquiring lock", "identifier": "x.com"}) is None
    assert note_of({"logger": "tls.cache.maintenance", "msg": "started"}) is None


def test_a_certificate_error_carries_the_cas_words() -> None:
    entry = {
        "logger": "tls.obtain",
        "level": "error",
        "msg": "could not get certificate from issuer",
        "identifier": "blocked.example.com",
        "error": "HTTP 400 urn:ietf:params:acme:error:rejectedIdentifier",
    }
    note = note_of(entry)
    assert note is not None and note.kind == "tls-error" and note.host == "blocked.example.com"
    assert note.message.endswith(
        "could not get certificate from issuer: HTTP 400 urn:ietf:params:acme:error:rejectedIdentifier"
    )


def test_repeats_within_a_window_are_counted_then_summarised_once() -> None:
    throttle = Throttle(window=10)
    assert throttle.offer("app1", "routing:503", now=0)
    assert not throttle.offer("app1", "routing:503", now=1)
    assert not throttle.offer("app1", "routing:503", now=2)
    assert throttle.offer("app1", "routing:502", now=2)  # another kind has its own window
    assert throttle.offer("app2", "routing:503", now=2)  # another app too
    assert throttle.expired(now=9) == []
    assert throttle.expired(now=10) == [("app1", "routing:503", 2)]
    assert throttle.expired(now=30) == []  # nothing more held; windows without repeats vanish quietly
    assert throttle.offer("app1", "routing:503", now=30)


def test_timestamps_keep_nanoseconds_like_dockers() -> None:
    assert rfc3339_ns(1_796_142_793_000_000_001) == "2026-12-01T16:33:13.000000001Z"


class Written:
    """Stands in for AppLogWriter: what would be published, per app."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def write(self, app_id: str, message: str) -> None:
        self.lines.append((app_id, message))


async def test_entries_reach_their_apps_log_once_per_window_and_internal_issuance_stays_quiet() -> None:
    written, errors = Written(), []
    proxy_log = ProxyLog(cast(Any, written), on_tls_error=lambda host, error: errors.append((host, error)))
    proxy_log.app_of_host = {"shop.berth.test": "app1", "shop.example.com": "app1"}
    for _ in range(3):
        await proxy_log.on_caddy_entry(access(503))
    await proxy_log.on_caddy_entry(access(503, host="unknown.example"))  # no app: nowhere to write
    internal = {"logger": "tls.obtain", "level": "info", "msg": "obtaining certificate"}
    internal["identifier"] = "shop.berth.test"
    await proxy_log.on_caddy_entry(internal)
    public = {**internal, "identifier": "shop.example.com"}
    await proxy_log.on_caddy_entry(public)
    failure = {
        "logger": "tls.obtain",
        "level": "error",
        "msg": "could not get certificate from issuer",
        "identifier": "shop.example.com",
        "error": "rejectedIdentifier",
    }
    await proxy_log.on_caddy_entry(failure)
    assert [m for _, m in written.lines] == [
        "routing: 503 for POST /cart on shop.berth.test: no healthy slot (Caddy answered for the app)",
        "tls: shop.example.com: obtaining certificate",
        "tls: shop.example.com: could not get certificate from issuer: rejectedIdentifier",
    ]
    assert errors == [("shop.example.com", "could not get certificate from issuer: rejectedIdentifier")]
    assert proxy_log.throttle.expired(now=float("inf")) != []  # the two repeats wait for their summary
