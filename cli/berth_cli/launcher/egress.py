"""Installs and removes the app egress chain that :mod:`egress_rules` describes (iptables, root).

``install`` replaces the chain's rules atomically (``iptables-restore --noflush``), then makes
the jumps to it exactly the wanted ones: idempotent, and a crashed run's chain and jumps are
replaced. ``remove`` deletes the jumps, then the chain. Without root or iptables it says why and
does nothing (a developer machine without Docker's firewall has nothing to protect either).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess

from berth_cli.launcher import egress_rules
from berth_cli.launcher.egress_rules import EgressPolicy

log = logging.getLogger("berth.egress")


class EgressError(Exception):
    pass


def _iptables() -> str | None:
    if os.geteuid() != 0:
        return None
    return shutil.which("iptables")


def _run(binary: str, args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary, *args], input=stdin, capture_output=True, text=True, check=False)


def install(policy: EgressPolicy) -> bool:
    """Put the chain and its jumps in place; False (with a warning) when it cannot."""
    binary = _iptables()
    restore = shutil.which("iptables-restore")
    if binary is None or restore is None:
        log.warning("app egress firewall not installed: needs root and iptables")
        return False
    done = _run(restore, [*egress_rules.WAIT, "--noflush"], egress_rules.restore_input(policy))
    if done.returncode != 0:
        raise EgressError(f"iptables-restore refused the egress chain: {done.stderr.strip()}")
    # Docker creates DOCKER-USER (and jumps to it from FORWARD) when it starts, and keeps what
    # is in it; creating it first is what Docker itself would do.
    _run(binary, egress_rules.create_parent_args("DOCKER-USER"))
    wanted = egress_rules.jumps(policy)
    for parent in egress_rules.PARENTS:
        listed = _listed(binary, parent, policy.instance)
        stale, missing = egress_rules.jump_changes(listed, [j for j in wanted if j.parent == parent])
        for jump in stale:
            _run(binary, egress_rules.delete_args(jump))
        for jump in missing:
            added = _run(binary, egress_rules.insert_args(jump))
            if added.returncode != 0:
                raise EgressError(f"iptables -I {parent} failed: {added.stderr.strip()}")
    return True


def remove(instance: str) -> None:
    """Delete the instance's jumps and chain (nothing to do when they are gone already)."""
    binary = _iptables()
    if binary is None:
        return
    for parent in egress_rules.PARENTS:
        for jump in _listed(binary, parent, instance):
            _run(binary, egress_rules.delete_args(jump))
    for args in egress_rules.removal_args(instance):
        _run(binary, args)


def _listed(binary: str, parent: str, instance: str) -> list[egress_rules.Jump]:
    listing = _run(binary, egress_rules.list_args(parent))
    if listing.returncode != 0:  # DOCKER-USER exists only where Docker set up its firewall
        return []
    return egress_rules.parse_jumps(parent, listing.stdout, instance)
