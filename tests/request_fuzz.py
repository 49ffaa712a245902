"""A seeded generator of mutated HTTP/1.1 requests, each followed by a second request.

It builds a valid request from parts (method, target, version, fields, a body
framed by Content-Length or chunked), then mutates it the way a fuzzer would:
a part swapped for a tricky spelling, a framing field added, doubled or bent, a
chunk line changed, a line ending changed, one byte inserted, dropped or
replaced. Deterministic for a seed, so a failing case can be replayed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

SECOND = b"GET /second HTTP/1.1\r\nHost: t\r\n\r\n"

METHODS = [b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH"]
BAD_METHODS = [b"get", b"BREW", b"GE T", b"G\x00T", b"", b"CONNECT", b"PRI", b"M-SEARCH"]
TARGETS = [b"/", b"/a/b?x=1&y=2", b"/%7Ee", b"/a;b", b"http://t/abs?q", b"https://[::1]:8000/x"]
BAD_TARGETS = [b"/a b", b"/a\x00", b"/\xc3\xa9", b"http://u@t/", b"http:///x", b"/a#f", b"a", b"*"]
BAD_VERSIONS = [
    b"HTTP/1.2",
    b"HTTP/2.0",
    b"HTTP/0.9",
    b"http/1.1",
    b"HTTP/1.1 ",
    b"HTTP/1",
    b"HTTP/1.10",
]
HOSTS = [b"t", b"Example.COM", b"[::1]:8000", b"127.0.0.1:80", b"", b"x:", b"a-b.c_d~e"]
BAD_HOSTS = [b"u@x", b"x/y", b"a b", b"::1", b"[::1", b"x:8a", b"h%zz", b"caf\xc3\xa9", b"[v6]"]
CODINGS = [b"chunked", b"Chunked", b"CHUNKED", b", chunked", b" ,chunked "]
BAD_CODINGS = [
    b"gzip, chunked",
    b"chunked, gzip",
    b"identity",
    b"chunked, chunked",
    b"chunked;q=1",
    b"xchunked",
    b"chunked\x0b",
    b"gz ip, chunked",
    b'x;q="a,b", chunked',
    b"",
    b",",
]
CONNECTIONS = [b"keep-alive", b"close", b"Close", b"keep-alive, close", b"x, close", b"closed"]
FIELD_NAMES = [b"Host ", b"Ho st", b"Host\t", b"", b"X(A)", b"\x00"]
NASTY_BYTES = b' \t\r\n\x00:;,"0Ff\x7f\xff@/\x0b'


@dataclass
class Case:
    data: bytes
    max_body: int
    #: Unmutated: both requests are valid and must both be read.
    pristine: bool
    #: Where the bytes are cut into reads.
    cuts: list[int] = field(default_factory=list)


@dataclass
class _Request:
    method: bytes
    target: bytes
    version: bytes
    fields: list[tuple[bytes, bytes]]
    body: bytes = b""
    extra_lines: list[bytes] = field(default_factory=list)

    def head_lines(self) -> list[bytes]:
        lines = [self.method + b" " + self.target + b" " + self.version]
        lines += [name + b": " + value for name, value in self.fields]
        return lines + self.extra_lines


def cases(seed: int, count: int) -> list[Case]:
    rng = random.Random(seed)
    return [_case(rng) for _ in range(count)]


def _case(rng: random.Random) -> Case:
    max_body = rng.choice([1_000_000, 1_000_000, 64])
    request = _valid(rng, max_body)
    mutations = 0 if rng.random() < 0.15 else rng.randint(1, 3)
    for _ in range(mutations):
        rng.choice(_PART_MUTATIONS)(rng, request)
    data = b"\r\n".join(request.head_lines()) + b"\r\n\r\n" + request.body
    if mutations and rng.random() < 0.3:
        data = _line_ending(rng, data)
    if mutations and rng.random() < 0.3:
        data = _byte(rng, data)
    data += SECOND
    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(0, 3))))
    return Case(data, max_body, pristine=mutations == 0, cuts=cuts)


def _valid(rng: random.Random, max_body: int) -> _Request:
    method = rng.choice(METHODS)
    target = b"*" if method == b"OPTIONS" and rng.random() < 0.3 else rng.choice(TARGETS)
    version = b"HTTP/1.1" if rng.random() < 0.8 else b"HTTP/1.0"
    fields: list[tuple[bytes, bytes]] = []
    if version == b"HTTP/1.1" or rng.random() < 0.5:
        fields.append((rng.choice([b"Host", b"host", b"HOST"]), rng.choice(HOSTS)))
    if version == b"HTTP/1.0":
        fields.append((b"Connection", b"keep-alive"))  # so that the second request is read
    for extra in rng.sample([(b"Accept", b"*/*"), (b"X-A", b"v \xff"), (b"Cookie", b"a=1")], 2):
        fields.insert(rng.randint(0, len(fields)), extra)
    request = _Request(method, target, version, fields)
    framing = rng.choice(
        ["none", "length", "chunked"] if version == b"HTTP/1.1" else ["none", "length"]
    )
    payload = bytes(rng.choice(b"abcxyz\r\n0") for _ in range(rng.randint(0, min(40, max_body))))
    if framing == "length":
        spelling = rng.choice([b"%d", b"%d", b"00%d", b" %d\t"]) % len(payload)
        fields.append((b"Content-Length", spelling))
        request.body = payload
    elif framing == "chunked":
        fields.append((b"Transfer-Encoding", rng.choice(CODINGS)))
        request.body = _chunks(rng, payload)
    return request


def _chunks(rng: random.Random, payload: bytes) -> bytes:
    out = bytearray()
    while payload:
        size = rng.randint(1, len(payload))
        spelling = rng.choice([b"%x", b"%X", b"000%x"]) % size
        out += spelling + rng.choice([b"", b";a", b";a=b", b';a="q;\\"r"']) + b"\r\n"
        out += payload[:size] + b"\r\n"
        payload = payload[size:]
    out += b"0" + rng.choice([b"", b";e=1"]) + b"\r\n"
    out += rng.choice([b"", b"T: v\r\n"]) + b"\r\n"
    return bytes(out)


# -- mutations of one part ------------------------------------------------------------


def _method(rng: random.Random, request: _Request) -> None:
    request.method = rng.choice(BAD_METHODS + METHODS)


def _target(rng: random.Random, request: _Request) -> None:
    request.target = rng.choice(BAD_TARGETS + TARGETS)


def _version(rng: random.Random, request: _Request) -> None:
    request.version = rng.choice([*BAD_VERSIONS, b"HTTP/1.0", b"HTTP/1.1"])


def _host(rng: random.Random, request: _Request) -> None:
    hosts = [i for i, (name, _) in enumerate(request.fields) if name.lower() == b"host"]
    choice = rng.random()
    if choice < 0.3 and hosts:
        del request.fields[hosts[0]]
    elif choice < 0.6:
        request.fields.append((b"Host", rng.choice(HOSTS + BAD_HOSTS)))
    elif hosts:
        request.fields[hosts[0]] = (b"Host", rng.choice(BAD_HOSTS + HOSTS))


def _content_length(rng: random.Random, request: _Request) -> None:
    size = len(request.body)
    value = rng.choice(
        [
            *(b"%d" % (size + 1), b"%d" % max(0, size - 1), b"%d, %d" % (size, size)),
            *(b"+%d" % size, b"-1", b"0x%x" % size, b"", b"99999999999999999999"),
            *(b"18446744073709551615", b"%d" % size, b"1000001"),
        ]
    )
    request.fields.append((b"Content-Length", value))


def _transfer_encoding(rng: random.Random, request: _Request) -> None:
    request.fields.append((b"Transfer-Encoding", rng.choice(BAD_CODINGS + CODINGS)))
    if rng.random() < 0.5 and not any(n == b"Transfer-Encoding" for n, _ in request.fields[:-1]):
        request.body = _chunks(rng, request.body[:20])


def _chunk_line(rng: random.Random, request: _Request) -> None:
    if b"\r\n" not in request.body:
        request.body = b"5\r\nhello\r\n0\r\n\r\n"
    replacement = rng.choice(
        [
            *(b"FFFFFFFFFFFFFFFF", b"10000000000000000", b"0x5", b"5 ", b"5\t", b"-5"),
            *(b"5 ;a", b"5;a=b c", b'5;"q"', b"3e9", b"F4241", b"6", b"4", b"0", b""),
        ]
    )
    line_end = request.body.find(b"\r\n")
    request.body = replacement + request.body[line_end:]


def _connection(rng: random.Random, request: _Request) -> None:
    request.fields.append((b"Connection", rng.choice(CONNECTIONS)))


def _field(rng: random.Random, request: _Request) -> None:
    choice = rng.random()
    if choice < 0.4:
        request.fields.append((rng.choice(FIELD_NAMES), b"v"))
    elif choice < 0.7 and request.fields:
        index = rng.randrange(len(request.fields))
        name, value = request.fields[index]
        cut = rng.randint(0, len(value))
        request.fields[index] = (
            name,
            value[:cut]
            + rng.choice([b"\x00", b"\x01", b"\x7f", b"\r", b"\n", b"\t", b"\xff"])
            + value[cut:],
        )
    else:
        request.extra_lines.append(rng.choice([b" folded", b"\tfolded", b"no colon"]))


_PART_MUTATIONS = [
    _method,
    _target,
    _version,
    _host,
    _host,
    _content_length,
    _transfer_encoding,
    _transfer_encoding,
    _chunk_line,
    _connection,
    _field,
]


# -- mutations of the bytes -----------------------------------------------------------


def _line_ending(rng: random.Random, data: bytes) -> bytes:
    ends = [i for i in range(len(data) - 1) if data[i : i + 2] == b"\r\n"]
    if not ends:
        return data
    at = rng.choice(ends)
    return data[:at] + rng.choice([b"\n", b"\r", b"\r\r\n", b"\n\r", b"\r\n\r\n"]) + data[at + 2 :]


def _byte(rng: random.Random, data: bytes) -> bytes:
    at = rng.randrange(len(data))
    new = bytes([rng.choice(NASTY_BYTES)])
    choice = rng.random()
    if choice < 0.4:
        return data[:at] + new + data[at:]
    if choice < 0.7:
        return data[:at] + data[at + 1 :]
    return data[:at] + new + data[at + 1 :]
