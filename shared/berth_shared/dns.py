"""A small stub resolver (stdlib only): the addresses of a name, asked of a given DNS server
directly over UDP (A and AAAA at once, random query ids) or, without one, of the system
resolver. The router checks with it that a custom hostname points at this host; the API and
the health service resolve webhook hosts with it (``BERTH_DNS_SERVER`` names the server).

The wire format (RFC 1035 §4) is handled by pure functions, :func:`encode_query`,
:func:`parse_addresses` and :func:`read_name` (which the router's slot answers use too);
everything a server sends is treated as untrusted: lengths are checked, compression pointers
may only point backwards (so they cannot loop) and are bounded.
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import socket
import struct

A = 1
AAAA = 28
CLASS_IN = 1

_HEADER = struct.Struct("!HHHHHH")  # id, flags, qdcount, ancount, nscount, arcount
_RR_FIXED = struct.Struct("!HHIH")  # type, class, ttl, rdlength
_FLAG_QR = 0x8000
_FLAG_TC = 0x0200
_FLAG_RD = 0x0100
_RCODE_NXDOMAIN = 3
_RCODE_NAMES = {1: "FORMERR", 2: "SERVFAIL", 4: "NOTIMP", 5: "REFUSED"}
_MAX_NAME = 255  # bytes on the wire (RFC 1035 §2.3.4)
_MAX_LABEL = 63
_MAX_POINTERS = 32  # a legitimate name needs at most a handful of jumps

DEFAULT_PORT = 53


class DnsError(Exception):
    """A lookup failed: timeout, refusal, error RCODE, or a message that cannot be parsed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# -- the wire format (pure) --


def encode_query(name: str, qtype: int, query_id: int) -> bytes:
    """A standard query (RD set) with one question ``name``/``qtype``/IN.

    Raises ValueError for a name that cannot be put on the wire (empty or over-long labels,
    non-ASCII) or an id/type outside 0..65535."""
    if not 0 <= query_id <= 0xFFFF or not 0 <= qtype <= 0xFFFF:
        raise ValueError(f"query id {query_id} and type {qtype} must be within 0..65535")
    wire = bytearray(_HEADER.pack(query_id, _FLAG_RD, 1, 0, 0, 0))
    stripped = name.removesuffix(".")
    if not stripped:
        raise ValueError("cannot query an empty name")
    try:
        labels = [label.encode("ascii") for label in stripped.split(".")]
    except UnicodeEncodeError:
        raise ValueError(f"cannot query {name!r}: not ASCII (use its IDNA form)") from None
    for label in labels:
        if not 0 < len(label) <= _MAX_LABEL:
            raise ValueError(f"cannot query {name!r}: every label must be 1 to {_MAX_LABEL} bytes")
        wire += bytes([len(label)]) + label
    wire += b"\x00"
    if len(wire) - _HEADER.size > _MAX_NAME:
        raise ValueError(f"cannot query {name!r}: longer than {_MAX_NAME} bytes")
    wire += struct.pack("!HH", qtype, CLASS_IN)
    return bytes(wire)


def read_name(message: bytes, offset: int) -> tuple[str, int]:
    """The (possibly compressed) name at ``offset`` and the offset just after it in place.

    A pointer must point strictly before the label it replaces, so pointers cannot form a
    loop; the number of jumps and the name's length are bounded as well."""
    labels: list[str] = []
    end: int | None = None  # where the name ends in place (after the first pointer)
    position = offset
    jumps = 0
    length = 0
    while True:
        if position >= len(message):
            raise DnsError(f"truncated message: a name at offset {offset} runs past the end")
        size = message[position]
        kind = size & 0xC0
        if kind == 0xC0:
            if position + 1 >= len(message):
                raise DnsError(f"truncated message: a compression pointer at offset {position} is cut off")
            target = ((size & 0x3F) << 8) | message[position + 1]
            if target >= position:
                raise DnsError(f"bad compression pointer at offset {position}: it must point backwards")
            jumps += 1
            if jumps > _MAX_POINTERS:
                raise DnsError(f"too many compression pointers in the name at offset {offset}")
            if end is None:
                end = position + 2
            position = target
            continue
        if kind != 0:
            raise DnsError(f"unsupported label type {kind >> 6:#x} at offset {position}")
        length += size + 1
        if length > _MAX_NAME:
            raise DnsError(f"the name at offset {offset} is longer than {_MAX_NAME} bytes")
        if size == 0:
            return ".".join(labels) + ".", (position + 1 if end is None else end)
        label = message[position + 1 : position + 1 + size]
        if len(label) < size:
            raise DnsError(f"truncated message: a label at offset {position} runs past the end")
        labels.append(label.decode("ascii", "backslashreplace"))
        position += 1 + size


def parse_addresses(message: bytes, query_id: int) -> list[str]:
    """The addresses of every A and AAAA record (class IN) in the answer section of the
    response ``message`` to query ``query_id``, in order, as normalized strings.

    Other records (CNAME, ...) are skipped. NXDOMAIN is an empty list. Raises DnsError for a
    different id, something that is not a response, a truncated (TC) or malformed message,
    and any other error RCODE."""
    if len(message) < _HEADER.size:
        raise DnsError(f"truncated message: {len(message)} bytes, a DNS header alone is {_HEADER.size}")
    answer_id, flags, qdcount, ancount, _, _ = _HEADER.unpack_from(message)
    if answer_id != query_id:
        raise DnsError(f"answer id {answer_id} does not match query id {query_id}")
    if not flags & _FLAG_QR:
        raise DnsError("the message is a query, not a response")
    rcode = flags & 0x000F
    if rcode == _RCODE_NXDOMAIN:
        return []
    if rcode != 0:
        raise DnsError(f"the server answered with RCODE {rcode} ({_RCODE_NAMES.get(rcode, 'unknown')})")
    if flags & _FLAG_TC:
        raise DnsError("the server truncated its answer (TC set); DNS over TCP is not supported")
    offset = _HEADER.size
    for _ in range(qdcount):
        _, offset = read_name(message, offset)
        offset += 4  # qtype, qclass
        if offset > len(message):
            raise DnsError("truncated message: the question section runs past the end")
    addresses: list[str] = []
    for index in range(ancount):
        owner, offset = read_name(message, offset)
        if offset + _RR_FIXED.size > len(message):
            raise DnsError(f"truncated message: answer {index} ({owner}) runs past the end")
        rtype, rclass, _, rdlength = _RR_FIXED.unpack_from(message, offset)
        offset += _RR_FIXED.size
        rdata = message[offset : offset + rdlength]
        if len(rdata) < rdlength:
            raise DnsError(f"truncated message: the data of answer {index} ({owner}) runs past the end")
        offset += rdlength
        if rclass != CLASS_IN or rtype not in (A, AAAA):
            continue
        expected = 4 if rtype == A else 16
        if rdlength != expected:
            kind = "A" if rtype == A else "AAAA"
            raise DnsError(f"malformed {kind} record for {owner}: {rdlength} bytes of data, expected {expected}")
        address = ipaddress.IPv4Address(rdata) if rtype == A else ipaddress.IPv6Address(rdata)
        addresses.append(str(address))
    return addresses


# -- asking a server --


class _Queries(asyncio.DatagramProtocol):
    """Matches the server's datagrams to the pending queries by id; ignores any other id."""

    def __init__(self, pending: dict[int, asyncio.Future[list[str]]]) -> None:
        self.pending = pending

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        query_id = int.from_bytes(data[:2], "big") if len(data) >= 2 else -1
        future = self.pending.get(query_id)
        if future is None or future.done():
            return
        try:
            future.set_result(parse_addresses(data, query_id))
        except DnsError as exc:
            future.set_exception(exc)

    def error_received(self, exc: Exception) -> None:
        # e.g. ICMP port unreachable: nothing listens there, so fail now instead of timing out.
        for future in self.pending.values():
            if not future.done():
                future.set_exception(DnsError(f"the DNS server refused the query: {exc}"))


def _ordered(addresses: set[str]) -> list[str]:
    """IPv4 before IPv6, each in numeric order."""
    parsed = [ipaddress.ip_address(a) for a in addresses]
    return [str(a) for a in sorted(parsed, key=lambda a: (a.version, int(a)))]


async def _ask_server(name: str, server: tuple[str, int], timeout: float) -> list[str]:
    loop = asyncio.get_running_loop()
    first = secrets.randbelow(0x10000)
    ids = {A: first, AAAA: (first + 1 + secrets.randbelow(0xFFFF)) % 0x10000}  # distinct
    queries = {qtype: encode_query(name, qtype, query_id) for qtype, query_id in ids.items()}
    pending: dict[int, asyncio.Future[list[str]]] = {query_id: loop.create_future() for query_id in ids.values()}
    transport, _ = await loop.create_datagram_endpoint(lambda: _Queries(pending), remote_addr=server)
    try:
        for query in queries.values():
            transport.sendto(query)
        async with asyncio.timeout(timeout):
            answers = await asyncio.gather(*pending.values())
    except TimeoutError:
        raise DnsError(f"the query for {name} to {server[0]} port {server[1]} timed out after {timeout:g}s") from None
    finally:
        transport.close()
        for future in pending.values():
            if not future.done():
                future.cancel()
            elif not future.cancelled():
                future.exception()  # retrieved: no "exception was never retrieved" warning
    return _ordered({address for answer in answers for address in answer})


async def _ask_system(name: str, timeout: float) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            infos = await loop.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    except TimeoutError:
        raise DnsError(f"the system resolver timed out after {timeout:g}s for {name}") from None
    except socket.gaierror as exc:
        if exc.errno in (socket.EAI_NONAME, socket.EAI_NODATA):
            return []
        raise DnsError(f"the system resolver failed for {name}: {exc.strerror}") from None
    return _ordered({str(info[4][0]) for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)})


async def resolve(name: str, server: tuple[str, int] | None = None, timeout: float = 3.0) -> list[str]:
    """The IPv4 and IPv6 addresses of ``name``, sorted (IPv4 first) and deduplicated.

    With ``server`` (an IP address and port), A and AAAA are asked of it concurrently over UDP;
    without it, of the system resolver. A name that does not exist gives []. Raises DnsError
    when the server does not answer within ``timeout`` seconds (the message says "timed out"),
    refuses, or answers with an error; ValueError for a name that cannot be queried."""
    if server is None:
        return await _ask_system(name, timeout)
    return await _ask_server(name, server, timeout)


# -- settings --


def _port(text: str, value: str) -> int:
    if not text.isdigit() or not 0 < int(text) <= 0xFFFF:
        raise ValueError(f"bad DNS server {value!r}: the port must be a number from 1 to 65535")
    return int(text)


def parse_server(value: str) -> tuple[str, int]:
    """``"10.0.0.2"``, ``"127.0.0.1:8053"``, ``"::1"`` or ``"[::1]:53"`` → (address, port); the
    port defaults to 53. The server must be an IP address (a name would need a resolver)."""
    text = value.strip()
    if not text:
        raise ValueError("bad DNS server '': expected an IP address with an optional port")
    port = DEFAULT_PORT
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"bad DNS server {value!r}: expected [IPv6 address]:port")
        if rest:
            port = _port(rest[1:], value)
        if ":" not in host:
            raise ValueError(f"bad DNS server {value!r}: only IPv6 addresses go in brackets")
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = _port(port_text, value)
    else:
        host = text  # IPv4 without a port, or a bare IPv6 address
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"bad DNS server {value!r}: {host!r} is not an IP address") from None
    return str(address), port
