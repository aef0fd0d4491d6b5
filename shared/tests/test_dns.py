"""The stub resolver (router: where custom hostnames point; API and health: webhook targets):
the wire format with hand-built messages, server settings, and real lookups against Debian's
``pebble-challtestsrv`` (a DNS server whose records are set over HTTP)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import secrets
import socket
import struct
import time
from collections.abc import AsyncIterator, Iterator
from typing import cast

import httpx
import pytest
from acme_testing import challtestsrv_argv
from berth_shared.dns import AAAA, A, DnsError, encode_query, parse_addresses, parse_server, resolve
from berth_testing import eventually, free_port

ID = 0x1234
CNAME = 5
TXT = 16
RESPONSE = 0x8180  # QR, RD, RA; RCODE 0


def wire_name(text: str) -> bytes:
    return b"".join(bytes([len(label)]) + label.encode() for label in text.split(".")) + b"\x00"


def header(*, query_id: int = ID, flags: int = RESPONSE, qd: int = 1, an: int = 0) -> bytes:
    return struct.pack("!HHHHHH", query_id, flags, qd, an, 0, 0)


def record(owner: bytes, rtype: int, rdata: bytes, rclass: int = 1) -> bytes:
    return owner + struct.pack("!HHIH", rtype, rclass, 300, len(rdata)) + rdata


QUESTION = wire_name("shop.example.com") + struct.pack("!HH", A, 1)
TO_QUESTION = b"\xc0\x0c"  # a compression pointer to the question's name (offset 12)


def response(*answers: bytes, query_id: int = ID, flags: int = RESPONSE) -> bytes:
    return header(query_id=query_id, flags=flags, an=len(answers)) + QUESTION + b"".join(answers)


def ip(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


# -- encode_query ------------------------------------------------------------------------------


def test_a_query_is_one_recursive_question_of_class_in() -> None:
    expected = (
        struct.pack("!HHHHHH", ID, 0x0100, 1, 0, 0, 0) + b"\x04shop\x07example\x03com\x00" + struct.pack("!HH", 28, 1)
    )
    assert encode_query("shop.example.com", AAAA, ID) == expected
    assert encode_query("shop.example.com.", AAAA, ID) == expected


@pytest.mark.parametrize(
    ("name", "qtype", "query_id"),
    [
        ("", A, 1),
        (".", A, 1),
        ("a..example", A, 1),
        ("x" * 64 + ".example", A, 1),
        (".".join(["x" * 63] * 4), A, 1),  # 257 bytes on the wire
        ("bücher.example", A, 1),
        ("shop.example", A, 0x10000),
        ("shop.example", -1, 1),
    ],
)
def test_names_and_numbers_that_cannot_go_on_the_wire_are_refused(name: str, qtype: int, query_id: int) -> None:
    with pytest.raises(ValueError, match=r"cannot query|within"):
        encode_query(name, qtype, query_id)


# -- parse_addresses ---------------------------------------------------------------------------


def test_a_and_aaaa_records_behind_compression_pointers() -> None:
    message = response(
        record(TO_QUESTION, A, ip("192.0.2.10")),
        record(TO_QUESTION, AAAA, ip("2001:db8:0:0::10")),
        record(TO_QUESTION, A, ip("192.0.2.11")),
    )
    assert parse_addresses(message, ID) == ["192.0.2.10", "2001:db8::10", "192.0.2.11"]


def test_a_cname_chain_gives_only_the_addresses() -> None:
    # shop.example.com CNAME edge.example.com (whose "example.com" points into the question),
    # then edge.example.com A, its owner a pointer to the CNAME's data, itself ending in a pointer.
    cname_data_at = 12 + len(QUESTION) + 2 + 10
    message = response(
        record(TO_QUESTION, CNAME, b"\x04edge\xc0\x11"),
        record(struct.pack("!H", 0xC000 | cname_data_at), A, ip("198.51.100.7")),
    )
    assert parse_addresses(message, ID) == ["198.51.100.7"]


def test_other_types_and_classes_are_skipped() -> None:
    message = response(
        record(TO_QUESTION, TXT, b"\x03abc"),
        record(TO_QUESTION, A, ip("192.0.2.1"), rclass=3),  # CHAOS
        record(wire_name("plain.example"), A, ip("192.0.2.2")),
    )
    assert parse_addresses(message, ID) == ["192.0.2.2"]


def test_nxdomain_is_no_addresses() -> None:
    assert parse_addresses(response(flags=RESPONSE | 3), ID) == []


def test_noerror_without_answers_is_no_addresses() -> None:
    assert parse_addresses(response(), ID) == []


@pytest.mark.parametrize(("rcode", "word"), [(1, "FORMERR"), (2, "SERVFAIL"), (5, "REFUSED"), (9, "unknown")])
def test_error_rcodes_are_errors(rcode: int, word: str) -> None:
    with pytest.raises(DnsError, match=f"RCODE {rcode} \\({word}\\)"):
        parse_addresses(response(flags=RESPONSE | rcode), ID)


def test_an_answer_to_another_query_is_an_error() -> None:
    with pytest.raises(DnsError, match="answer id 4661 does not match query id 4660"):
        parse_addresses(response(record(TO_QUESTION, A, ip("192.0.2.1")), query_id=ID + 1), ID)


def test_every_truncation_of_an_answer_is_an_error() -> None:
    message = response(record(TO_QUESTION, CNAME, b"\x04edge\xc0\x11"), record(TO_QUESTION, A, ip("192.0.2.1")))
    assert parse_addresses(message, ID) == ["192.0.2.1"]
    for length in range(len(message)):
        with pytest.raises(DnsError, match="truncated"):
            parse_addresses(message[:length], ID)


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (response(record(b"\xc0\x40", A, ip("192.0.2.1"))), "must point backwards"),
        (header(qd=1) + b"\xc0\x0c" + struct.pack("!HH", A, 1), "must point backwards"),
        (response(record(b"\x40abc\x00", A, ip("192.0.2.1"))), "unsupported label type"),
        (response(record(TO_QUESTION, A, b"\xc0\x00\x02")), "malformed A record .* 3 bytes"),
        (response(record(TO_QUESTION, AAAA, ip("192.0.2.1"))), "malformed AAAA record .* 4 bytes"),
        (response(record(wire_name(".".join(["x" * 63] * 5)), A, ip("192.0.2.1"))), "longer than 255"),
        (response(flags=0x0100), "not a response"),
        (response(record(TO_QUESTION, A, ip("192.0.2.1")), flags=RESPONSE | 0x0200), "truncated its answer"),
    ],
    ids=[
        "forward-pointer",
        "pointer-to-itself",
        "reserved-label-type",
        "short-a",
        "short-aaaa",
        "name-too-long",
        "a-query",
        "tc-set",
    ],
)
def test_malformed_messages_are_errors(message: bytes, error: str) -> None:
    with pytest.raises(DnsError, match=error):
        parse_addresses(message, ID)


def test_chains_of_pointers_are_bounded() -> None:
    # Question k's name is a pointer to question k-1's name: reading question k takes k jumps.
    questions = [b"\x00" + struct.pack("!HH", A, 1)]
    offsets = [12]
    for _ in range(40):
        offsets.append(offsets[-1] + len(questions[-1]))
        questions.append(struct.pack("!H", 0xC000 | offsets[-2]) + struct.pack("!HH", A, 1))
    for count, ok in ((33, True), (34, False)):  # 32 jumps are followed, 33 are not
        message = struct.pack("!HHHHHH", ID, RESPONSE, count, 0, 0, 0) + b"".join(questions[:count])
        if ok:
            assert parse_addresses(message, ID) == []
        else:
            with pytest.raises(DnsError, match="too many compression pointers"):
                parse_addresses(message, ID)


# -- parse_server ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1:8053", ("127.0.0.1", 8053)),
        ("10.0.0.2", ("10.0.0.2", 53)),
        (" 10.0.0.2 ", ("10.0.0.2", 53)),
        ("[::1]:53", ("::1", 53)),
        ("[2001:DB8:0::1]:5353", ("2001:db8::1", 5353)),
        ("[::1]", ("::1", 53)),
        ("::1", ("::1", 53)),
    ],
)
def test_server_settings(value: str, expected: tuple[str, int]) -> None:
    assert parse_server(value) == expected


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("", "expected an IP address"),
        ("ns1.example:53", "'ns1.example' is not an IP address"),
        ("10.0.0.256", "is not an IP address"),
        ("10.0.0.2:0", "port must be a number from 1 to 65535"),
        ("10.0.0.2:65536", "port must be"),
        ("10.0.0.2:dns", "port must be"),
        ("10.0.0.2:", "port must be"),
        ("[::1]:", "port must be"),
        ("[::1", "expected \\[IPv6 address\\]:port"),
        ("[::1]53", "expected \\[IPv6 address\\]:port"),
        ("[10.0.0.2]:53", "only IPv6 addresses go in brackets"),
    ],
)
def test_bad_server_settings(value: str, error: str) -> None:
    with pytest.raises(ValueError, match=f"bad DNS server .*{error}"):
        parse_server(value)


# -- resolve against small in-process servers --------------------------------------------------


class Answering(asyncio.DatagramProtocol):
    """Answers every query first under a wrong id (an address that must be ignored), then
    correctly: 192.0.2.77 for A, nothing for AAAA."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        query_id, qtype = struct.unpack("!H", data[:2])[0], struct.unpack("!H", data[-4:-2])[0]
        question = data[12:]
        wrong = header(query_id=(query_id + 1) % 0x10000, an=1) + question + record(TO_QUESTION, A, ip("203.0.113.66"))
        self.transport.sendto(wrong, addr)
        answers = [record(TO_QUESTION, A, ip("192.0.2.77"))] if qtype == A else []
        self.transport.sendto(header(query_id=query_id, an=len(answers)) + question + b"".join(answers), addr)


async def test_answers_under_other_ids_are_ignored() -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(Answering, local_addr=("127.0.0.1", 0))
    try:
        port = transport.get_extra_info("sockname")[1]
        assert await resolve("shop.example.com", ("127.0.0.1", port), timeout=5) == ["192.0.2.77"]
    finally:
        transport.close()


@pytest.fixture
def silent_server() -> Iterator[tuple[str, int]]:
    """A bound UDP socket that never reads: queries to it are never answered."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()


async def test_a_server_that_never_answers_times_out(silent_server: tuple[str, int]) -> None:
    started = time.monotonic()
    with pytest.raises(DnsError, match=r"timed out after 0\.5s"):
        await resolve("shop.example.com", silent_server, timeout=0.5)
    assert 0.5 <= time.monotonic() - started < 2


async def test_nothing_listening_fails_without_waiting_for_the_timeout() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()
    started = time.monotonic()
    with pytest.raises(DnsError, match="refused"):
        await resolve("shop.example.com", closed, timeout=10)
    assert time.monotonic() - started < 5


# -- resolve with the system resolver ----------------------------------------------------------


async def test_the_system_resolver_knows_localhost() -> None:
    assert "127.0.0.1" in await resolve("localhost")


@pytest.mark.parametrize(("errno", "outcome"), [(socket.EAI_NONAME, "empty"), (socket.EAI_AGAIN, "error")])
async def test_the_system_resolver_tells_unknown_names_from_failures(
    errno: int, outcome: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def failing(*args: object, **kwargs: object) -> list[object]:
        raise socket.gaierror(errno, "no luck")

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", failing)
    if outcome == "empty":
        assert await resolve("shop.example.com") == []
    else:
        with pytest.raises(DnsError, match=r"system resolver failed for shop\.example\.com: no luck"):
            await resolve("shop.example.com")


# -- resolve against pebble-challtestsrv -------------------------------------------------------

DEFAULT_V4 = "192.0.2.200"
DEFAULT_V6 = "2001:db8::200"


def unique(label: str) -> str:
    """A name no other test (or other challtestsrv on a reused port) has records for."""
    return f"{label}-{secrets.token_hex(4)}.example.com"


class Challtestsrv:
    """challtestsrv on free loopback ports, answering DEFAULT_V4/DEFAULT_V6 for unknown names."""

    def __init__(self) -> None:
        self.dns = ("127.0.0.1", free_port())
        self.management_address = f"127.0.0.1:{free_port()}"
        self.management = httpx.AsyncClient(base_url=f"http://{self.management_address}")
        self.lines: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None
        self.reader: asyncio.Task[None] | None = None

    async def post(self, endpoint: str, **body: object) -> None:
        (await self.management.post(f"/{endpoint}", json=body)).raise_for_status()

    async def start(self) -> bool:
        """True once a record added over HTTP comes back over DNS; False when a port was taken
        (challtestsrv then keeps running and only logs the bind error)."""
        argv = challtestsrv_argv(
            f"{self.dns[0]}:{self.dns[1]}", self.management_address, default_v4=DEFAULT_V4, default_v6=DEFAULT_V6
        )
        self.proc = proc = await asyncio.create_subprocess_exec(
            *argv,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        assert proc.stdout is not None
        self.reader = asyncio.create_task(self._collect(proc.stdout))
        probe = unique("ready")

        async def ready() -> str:
            if any("address already in use" in line for line in self.lines):
                return "port taken"
            if proc.returncode is not None:
                raise AssertionError(f"challtestsrv exited with {proc.returncode}: {''.join(self.lines)}")
            with contextlib.suppress(httpx.TransportError, DnsError):
                await self.post("add-a", host=f"{probe}.", addresses=["192.0.2.1"])
                if await resolve(probe, self.dns, timeout=0.5) == ["192.0.2.1", DEFAULT_V6]:
                    return "ready"
            return ""

        outcome: str = await eventually(ready, within=15, what="challtestsrv to serve a record added over HTTP")
        return outcome == "ready"

    async def _collect(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.lines.append(line.decode(errors="replace"))

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), timeout=10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self.reader is not None:
            await self.reader
        await self.management.aclose()


@pytest.fixture(scope="module")
async def challtestsrv() -> AsyncIterator[Challtestsrv]:
    for _attempt in range(3):  # another process may take a port between free_port() and the bind
        srv = Challtestsrv()
        try:
            if await srv.start():
                yield srv
                return
        finally:
            await srv.stop()
    raise AssertionError("challtestsrv found no free ports in 3 attempts")


@pytest.mark.integration
async def test_the_records_of_a_name_and_nothing_else(challtestsrv: Challtestsrv) -> None:
    name = unique("shop")
    await challtestsrv.post("add-a", host=f"{name}.", addresses=["192.0.2.11", "192.0.2.10"])
    await challtestsrv.post("add-aaaa", host=f"{name}.", addresses=["2001:db8::10"])
    assert await resolve(name, challtestsrv.dns) == ["192.0.2.10", "192.0.2.11", "2001:db8::10"]
    assert await resolve(f"{name}.", challtestsrv.dns) == ["192.0.2.10", "192.0.2.11", "2001:db8::10"]


@pytest.mark.integration
async def test_other_names_get_the_default_addresses(challtestsrv: Challtestsrv) -> None:
    assert await resolve(unique("other"), challtestsrv.dns) == [DEFAULT_V4, DEFAULT_V6]


@pytest.mark.integration
async def test_without_defaults_an_unknown_name_has_no_addresses(challtestsrv: Challtestsrv) -> None:
    await challtestsrv.post("set-default-ipv4", ip="")
    await challtestsrv.post("set-default-ipv6", ip="")
    try:
        assert await resolve(unique("unknown"), challtestsrv.dns) == []
    finally:
        await challtestsrv.post("set-default-ipv4", ip=DEFAULT_V4)
        await challtestsrv.post("set-default-ipv6", ip=DEFAULT_V6)


@pytest.mark.integration
async def test_a_servfail_is_an_error(challtestsrv: Challtestsrv) -> None:
    name = unique("broken")
    await challtestsrv.post("set-servfail", host=f"{name}.")
    with pytest.raises(DnsError, match="SERVFAIL"):
        await resolve(name, challtestsrv.dns)
