"""Pure builders and parsers of the iptables rules that drain a slot (no I/O; mypy strict).

Draining a slot means the proxy stops opening new connections to it while the connections it
already has (in-flight requests) go on: a rule in ``OUTPUT`` (the proxy runs in the host's
network namespace) and, in case a proxy ever runs in a container, ``FORWARD``, that answers a
SYN to ``<slot address>:<port>`` with a TCP reset. Caddy sees the dial refused, retries another
upstream, and its active health check marks the slot down. Every rule carries the comment
``berth:<instance>:<app id>:<slot>`` so it can be found again and removed idempotently.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from dataclasses import dataclass

CHAINS = ("OUTPUT", "FORWARD")
COMMENT_PREFIX = "berth"
WAIT_SECONDS = 5  # wait for the xtables lock (Docker holds it at times) instead of failing at once
WAIT = ("-w", str(WAIT_SECONDS))


@dataclass(frozen=True)
class DrainRule:
    """New TCP connections to ``address:port`` (``slot`` of ``app_id``) are refused."""

    instance: str
    app_id: str
    slot: str
    address: str
    port: int

    @property
    def comment(self) -> str:
        return rule_comment(self.instance, self.app_id, self.slot)

    def spec(self) -> list[str]:
        """The rule's match and target, as ``iptables -I/-C <chain>`` takes them."""
        return [
            "-p",
            "tcp",
            "-d",
            f"{self.address}/32",
            "--dport",
            str(self.port),
            "--syn",
            "-m",
            "comment",
            "--comment",
            self.comment,
            "-j",
            "REJECT",
            "--reject-with",
            "tcp-reset",
        ]


@dataclass(frozen=True)
class ListedRule:
    """A Berth drain rule as ``iptables -S <chain>`` printed it."""

    chain: str
    spec: tuple[str, ...]  # everything after ``-A <chain>``
    instance: str
    app_id: str
    slot: str


def rule_comment(instance: str, app_id: str, slot: str) -> str:
    return f"{COMMENT_PREFIX}:{instance}:{app_id}:{slot}"


def parse_comment(comment: str) -> tuple[str, str, str] | None:
    """``(instance, app_id, slot)`` of a Berth comment; None for anything else."""
    parts = comment.split(":")
    if len(parts) != 4 or parts[0] != COMMENT_PREFIX or not all(parts[1:]):
        return None
    return parts[1], parts[2], parts[3]


def check_args(chain: str, rule: DrainRule) -> list[str]:
    return [*WAIT, "-C", chain, *rule.spec()]


def insert_args(chain: str, rule: DrainRule) -> list[str]:
    """Insert at the top, ahead of Docker's own jumps, so nothing accepts the SYN first."""
    return [*WAIT, "-I", chain, "1", *rule.spec()]


def list_args(chain: str) -> list[str]:
    return [*WAIT, "-S", chain]


def delete_args(rule: ListedRule) -> list[str]:
    """Delete exactly the listed rule (by its printed spec, so no rule number can shift)."""
    return [*WAIT, "-D", rule.chain, *rule.spec]


def parse_listing(chain: str, listing: str) -> list[ListedRule]:
    """The Berth drain rules in the output of ``iptables -S <chain>``."""
    found: list[ListedRule] = []
    for line in listing.splitlines():
        try:
            tokens = shlex.split(line)
        except ValueError:
            continue
        if len(tokens) < 3 or tokens[0] != "-A" or tokens[1] != chain:
            continue
        spec = tuple(tokens[2:])
        identity = comment_identity(spec)
        if identity is not None:
            found.append(ListedRule(chain, spec, *identity))
    return found


def comment_identity(spec: tuple[str, ...]) -> tuple[str, str, str] | None:
    for index, token in enumerate(spec[:-1]):
        if token == "--comment":
            return parse_comment(spec[index + 1])
    return None


def rules_of(
    rules: Iterable[ListedRule], instance: str, app_id: str | None = None, slot: str | None = None
) -> list[ListedRule]:
    """This instance's rules, of one app (and one slot of it) when given."""
    return [
        r
        for r in rules
        if r.instance == instance and (app_id is None or r.app_id == app_id) and (slot is None or r.slot == slot)
    ]


def destination(spec: tuple[str, ...]) -> str | None:
    """The single address a listed rule matches (``-d <address>/32``), or None."""
    for index, token in enumerate(spec[:-1]):
        if token == "-d":
            address, _, prefix = spec[index + 1].partition("/")
            return address if prefix in ("", "32") else None
    return None


def foreign_rules_at(rules: Iterable[ListedRule], instance: str, address: str) -> list[ListedRule]:
    """Rules of *other* Berth instances on ``address``: a platform stopped or killed mid-drain left
    them (its agent would remove only its own at its next start). The caller's app network holds
    ``address`` now, and Docker never lets two networks overlap, so no live instance owns them;
    left in place they would refuse every new connection to this app's slot for good."""
    return [r for r in rules if r.instance != instance and destination(r.spec) == address]


def stale_rules(
    rules: Iterable[ListedRule], instance: str, draining: frozenset[tuple[str, str]], app_id: str | None = None
) -> list[ListedRule]:
    """Rules of this instance (of ``app_id`` when given) that no drain in progress owns:
    left behind by a crash, by an app that is gone, or by a slot that is being reused."""
    return [r for r in rules_of(rules, instance, app_id) if (r.app_id, r.slot) not in draining]


def apps_with_rules(rules: Iterable[ListedRule], instance: str) -> frozenset[str]:
    return frozenset(r.app_id for r in rules_of(rules, instance))
