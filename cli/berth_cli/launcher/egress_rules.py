"""The app egress firewall as data (no I/O): what apps and build steps of one instance may reach.

One iptables chain per instance, ``BERTH-EGRESS-<instance>``, jumped to from ``DOCKER-USER``
(traffic the host forwards: to other networks and the internet) and from ``INPUT`` (traffic to
the host's own addresses) for packets from the instance's subnet pool (app networks; app
containers have no capabilities, so they cannot forge a source address) and from the build
bridge (matched by interface: build steps keep ``NET_RAW``). Inside the chain:

1. replies of connections already accepted go on (the proxy's and health checks' connections
   to slots, downloads in progress);
2. to the host itself, only the proxy's public ports (HTTP, HTTPS) are open; every other port
   of every host address (API, NATS, Postgres, the router's ports, anything else local) is refused;
3. addresses of the subnet pool go on to Docker's own rules, which keep every network apart and
   let a network's members talk to each other (an app's slots);
4. link-local (cloud metadata), private, shared (CGNAT), loopback and multicast ranges are refused;
5. everything else (the internet) goes on.

Refusals answer at once (``icmp-admin-prohibited``), so a blocked connect fails instead of hanging.
"""

from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Iterable
from dataclasses import dataclass

WAIT = ("-w", "5")  # wait for the xtables lock (Docker holds it at times)
CHAIN_PREFIX = "BERTH-EGRESS-"
CHAIN_MAX = 28  # iptables' limit on chain names
COMMENT_PREFIX = "berth-egress"
PARENTS = ("DOCKER-USER", "INPUT")
REFUSE = ("-j", "REJECT", "--reject-with", "icmp-admin-prohibited")

# Never reachable from an app or a build step (except the app's own network, rule 3).
BLOCKED_V4 = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "224.0.0.0/4",
    "240.0.0.0/4",
)


@dataclass(frozen=True)
class EgressPolicy:
    instance: str
    pool: ipaddress.IPv4Network
    public_ports: tuple[int, ...]  # the proxy's HTTP and HTTPS ports
    build_bridge: str


@dataclass(frozen=True)
class Jump:
    """A rule in ``parent`` that sends matching packets through the instance's chain."""

    parent: str
    spec: tuple[str, ...]  # everything after ``-A <parent>``


def chain_name(instance: str) -> str:
    return f"{CHAIN_PREFIX}{instance}"[:CHAIN_MAX]


def comment(instance: str) -> str:
    return f"{COMMENT_PREFIX}:{instance}"


def chain_rules(policy: EgressPolicy) -> list[list[str]]:
    """The chain's rules, in order (each as ``iptables -A <chain>`` takes it)."""
    ports = ",".join(str(p) for p in sorted(set(policy.public_ports)))
    local = ["-m", "addrtype", "--dst-type", "LOCAL"]
    return [
        ["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"],
        [*local, "-p", "tcp", "-m", "multiport", "--dports", ports, "-j", "RETURN"],
        [*local, *REFUSE],
        ["-d", str(policy.pool), "-j", "RETURN"],
        *[["-d", blocked, *REFUSE] for blocked in BLOCKED_V4],
    ]


def restore_input(policy: EgressPolicy) -> str:
    """``iptables-restore --noflush`` input that creates the chain or replaces its rules in one
    transaction (a chain left by a crashed run is replaced; jumps to it stay valid throughout)."""
    chain = chain_name(policy.instance)
    lines = ["*filter", f":{chain} - [0:0]"]
    lines += [shlex.join(["-A", chain, *rule]) for rule in chain_rules(policy)]
    lines += ["COMMIT", ""]
    return "\n".join(lines)


def jumps(policy: EgressPolicy) -> list[Jump]:
    chain = chain_name(policy.instance)
    tag = ["-m", "comment", "--comment", comment(policy.instance), "-j", chain]
    sources = [["-s", str(policy.pool)], ["-i", policy.build_bridge]]
    return [Jump(parent, tuple([*source, *tag])) for parent in PARENTS for source in sources]


def parse_jumps(parent: str, listing: str, instance: str) -> list[Jump]:
    """The jumps of ``instance`` in the output of ``iptables -S <parent>``."""
    found: list[Jump] = []
    for line in listing.splitlines():
        try:
            tokens = shlex.split(line)
        except ValueError:
            continue
        if len(tokens) < 3 or tokens[:2] != ["-A", parent]:
            continue
        spec = tuple(tokens[2:])
        if _comment_of(spec) == comment(instance):
            found.append(Jump(parent, spec))
    return found


def _comment_of(spec: tuple[str, ...]) -> str | None:
    for index, token in enumerate(spec[:-1]):
        if token == "--comment":
            return spec[index + 1]
    return None


def jump_changes(listed: Iterable[Jump], wanted: Iterable[Jump]) -> tuple[list[Jump], list[Jump]]:
    """``(to delete, to insert)``: listed jumps that are not wanted (a leftover of a run with
    another pool) and wanted jumps that are missing."""
    have = list(listed)
    want = list(wanted)
    return [j for j in have if j not in want], [j for j in want if j not in have]


def insert_args(jump: Jump) -> list[str]:
    """At the top, ahead of anything that could accept the packet first."""
    return [*WAIT, "-I", jump.parent, "1", *jump.spec]


def delete_args(jump: Jump) -> list[str]:
    return [*WAIT, "-D", jump.parent, *jump.spec]


def list_args(parent: str) -> list[str]:
    return [*WAIT, "-S", parent]


def create_parent_args(parent: str) -> list[str]:
    return [*WAIT, "-N", parent]


def removal_args(instance: str) -> list[list[str]]:
    """After the jumps are gone: empty the chain, then delete it."""
    chain = chain_name(instance)
    return [[*WAIT, "-F", chain], [*WAIT, "-X", chain]]
