"""What the router's slot DNS answers: a pure function from the live-slot table to answer bytes.

Caddy looks each app's live slot up as ``<app id>.slot.berth.internal.`` (type A) on the router's
loopback DNS port, at most once per refresh interval and only while requests need it (ADR 0025).
The answer is every web address of the app's live slot, one A record each (the slot's fixed
address when the agent named none; ADR 0026 §2); a name the router has no live slot for is
NXDOMAIN, and Caddy then falls back to the route's static list of both slots. Everything a
client sends is untrusted: a message that is not one standard query is answered FORMERR or
NOTIMP, or dropped when it is not even a query.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Mapping, Sequence

from berth_shared.dns import CLASS_IN, A, DnsError, read_name
from berth_shared.netplan import Slot, slot_address

ZONE = "slot.berth.internal."
# Caddy caches by its own refresh interval, not by TTL; 1 s keeps any other cache short too.
TTL_SECONDS = 1

_HEADER = struct.Struct("!HHHHHH")  # id, flags, qdcount, ancount, nscount, arcount
_ANSWER = struct.Struct("!HHHIH")  # name pointer, type, class, ttl, rdlength
_POINTER_TO_QUESTION = 0xC000 | _HEADER.size
_QR = 0x8000
_OPCODE = 0x7800
_AA = 0x0400
_RD = 0x0100
NOERROR, FORMERR, NXDOMAIN, NOTIMP = 0, 1, 3, 4

# The addresses answered for a name, in order (a /28 holds at most 16: one UDP answer of 268 bytes).
Addresses = tuple[str, ...]


def slot_name(app_id: str) -> str:
    """The name Caddy looks up for ``app_id``'s live slot (lower case, fully qualified)."""
    return f"{app_id.lower()}.{ZONE}"


def answer_table(subnets: Mapping[str, str], live: Mapping[str, tuple[Slot, Sequence[str]]]) -> dict[str, Addresses]:
    """Name -> addresses for every app with both a route (its subnet) and a live slot: ``live``
    holds each app's slot and the web addresses the agent named for it."""
    return {
        slot_name(app_id): slot_addresses(subnets[app_id], slot, addresses)
        for app_id, (slot, addresses) in live.items()
        if app_id in subnets
    }


def slot_addresses(subnet: str, slot: Slot, addresses: Sequence[str]) -> Addresses:
    """The addresses answered for a live slot: those the agent named inside the app's subnet, in
    its order, once each; none (an agent from before ADR 0026, web scaled to 0): the slot's fixed
    address. An address outside the subnet is never answered (the proxy sends only there)."""
    network = ipaddress.IPv4Network(subnet, strict=False)
    kept: list[str] = []
    for address in addresses:
        try:
            parsed = ipaddress.IPv4Address(address)
        except ValueError:
            continue
        if parsed in network and str(parsed) not in kept:
            kept.append(str(parsed))
    return tuple(kept) if kept else (slot_address(subnet, slot),)


# Between the router sending an answer and Caddy stamping it fresh (loopback UDP, a goroutine).
DELIVERY_MARGIN_SECONDS = 0.01


def stale_for(last: tuple[float, Addresses] | None, addresses: Addresses, now: float, refresh: float) -> float:
    """How much longer the proxy may use an earlier answer for a name whose live addresses are now
    ``addresses``: ``last`` is when (seconds, any monotonic clock) and what the router last answered
    for it; the proxy uses an answer for ``refresh`` seconds after it arrives. Only an answer with
    an address no longer listed matters: one naming fewer of the same addresses sends nowhere old."""
    if last is None or set(last[1]) <= set(addresses):
        return 0.0
    return max(0.0, last[0] + refresh + DELIVERY_MARGIN_SECONDS - now)


def answer(query: bytes, table: Mapping[str, Addresses]) -> bytes | None:
    """The response to ``query``, or None when it is no query at all (nothing is sent back)."""
    return answer_naming(query, table)[0]


def answer_naming(query: bytes, table: Mapping[str, Addresses]) -> tuple[bytes | None, str | None]:
    """:func:`answer`, and the name it answered with an address (None when it gave none)."""
    if len(query) < _HEADER.size:
        return None, None
    query_id, flags, qdcount, _, _, _ = _HEADER.unpack_from(query)
    if flags & _QR:
        return None, None
    echoed = flags & (_OPCODE | _RD)
    if flags & _OPCODE:
        return _header(query_id, echoed, NOTIMP), None
    if qdcount != 1:
        return _header(query_id, echoed, FORMERR), None
    try:
        name, end = read_name(query, _HEADER.size)
    except DnsError:
        return _header(query_id, echoed, FORMERR), None
    if end + 4 > len(query):
        return _header(query_id, echoed, FORMERR), None
    qtype, qclass = struct.unpack_from("!HH", query, end)
    question = query[_HEADER.size : end + 4]
    addresses = table.get(name.lower())
    if not addresses:
        return _header(query_id, echoed, NXDOMAIN, question), None
    if qtype != A or qclass != CLASS_IN:
        return _header(query_id, echoed, NOERROR, question), None  # the name exists, with no such record
    records = b"".join(
        _ANSWER.pack(_POINTER_TO_QUESTION, A, CLASS_IN, TTL_SECONDS, 4) + ipaddress.IPv4Address(address).packed
        for address in addresses
    )
    return _header(query_id, echoed, NOERROR, question, answers=len(addresses)) + records, name.lower()


def _header(query_id: int, echoed: int, rcode: int, question: bytes = b"", answers: int = 0) -> bytes:
    """A response header (authoritative: Go's resolver takes an empty answer without AA for a
    lame referral) followed by the question it answers."""
    flags = _QR | _AA | echoed | rcode
    return _HEADER.pack(query_id, flags, 1 if question else 0, answers, 0, 0) + question
