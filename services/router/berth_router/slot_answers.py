"""What the router's slot DNS answers: a pure function from the live-slot table to answer bytes.

Caddy looks each app's live slot up as ``<app id>.slot.berth.internal.`` (type A) on the router's
loopback DNS port, at most once per refresh interval and only while requests need it (ADR 0025).
The answer is the address of the app's live slot; a name the router has no live slot for is
NXDOMAIN, and Caddy then falls back to the route's static list of both slots. Everything a
client sends is untrusted: a message that is not one standard query is answered FORMERR or
NOTIMP, or dropped when it is not even a query.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Mapping

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


def slot_name(app_id: str) -> str:
    """The name Caddy looks up for ``app_id``'s live slot (lower case, fully qualified)."""
    return f"{app_id.lower()}.{ZONE}"


def answer_table(subnets: Mapping[str, str], live: Mapping[str, Slot]) -> dict[str, str]:
    """Name -> address for every app with both a route (its subnet) and a live slot."""
    return {
        slot_name(app_id): slot_address(subnets[app_id], slot) for app_id, slot in live.items() if app_id in subnets
    }


# Between the router sending an answer and Caddy stamping it fresh (loopback UDP, a goroutine).
DELIVERY_MARGIN_SECONDS = 0.01


def stale_for(last: tuple[float, str] | None, address: str, now: float, refresh: float) -> float:
    """How much longer the proxy may use an earlier answer for a name whose live address is now
    ``address``: ``last`` is when (seconds, any monotonic clock) and what the router last answered
    for it; the proxy uses an answer for ``refresh`` seconds after it arrives."""
    if last is None or last[1] == address:
        return 0.0
    return max(0.0, last[0] + refresh + DELIVERY_MARGIN_SECONDS - now)


def answer(query: bytes, table: Mapping[str, str]) -> bytes | None:
    """The response to ``query``, or None when it is no query at all (nothing is sent back)."""
    return answer_naming(query, table)[0]


def answer_naming(query: bytes, table: Mapping[str, str]) -> tuple[bytes | None, str | None]:
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
    address = table.get(name.lower())
    if address is None:
        return _header(query_id, echoed, NXDOMAIN, question), None
    if qtype != A or qclass != CLASS_IN:
        return _header(query_id, echoed, NOERROR, question), None  # the name exists, with no such record
    record = _ANSWER.pack(_POINTER_TO_QUESTION, A, CLASS_IN, TTL_SECONDS, 4) + ipaddress.IPv4Address(address).packed
    return _header(query_id, echoed, NOERROR, question, answers=1) + record, name.lower()


def _header(query_id: int, echoed: int, rcode: int, question: bytes = b"", answers: int = 0) -> bytes:
    """A response header (authoritative: Go's resolver takes an empty answer without AA for a
    lame referral) followed by the question it answers."""
    flags = _QR | _AA | echoed | rcode
    return _HEADER.pack(query_id, flags, 1 if question else 0, answers, 0, 0) + question
