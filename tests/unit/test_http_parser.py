"""The request parser fed with bytes, no sockets: framing, limits, versions."""

from __future__ import annotations

import pytest

from siteserve.http.errors import ProtocolError
from siteserve.http.framing import declared_length
from siteserve.http.headers import Headers
from siteserve.http.limits import ParserLimits
from siteserve.http.parser import RequestHead, RequestParser, split_target


class Recorder:
    def __init__(self) -> None:
        self.heads: list[RequestHead] = []
        self.bodies: list[bytes] = []
        self.ends = 0

    def on_request_head(self, head: RequestHead) -> int | None:
        self.heads.append(head)
        return None

    def on_request_body(self, data: bytes) -> None:
        self.bodies.append(data)

    def on_request_end(self) -> None:
        self.ends += 1


def parse(data: bytes | list[bytes], limits: ParserLimits | None = None) -> Recorder:
    recorder = Recorder()
    parser = RequestParser(recorder, limits or ParserLimits())
    for piece in [data] if isinstance(data, bytes) else data:
        parser.feed(piece)
    return recorder


def status_of(data: bytes | list[bytes], limits: ParserLimits | None = None) -> int:
    with pytest.raises(ProtocolError) as caught:
        parse(data, limits)
    return caught.value.status


def test_simple_get() -> None:
    rec = parse(b"GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: example\r\nAccept: */*\r\n\r\n")
    (head,) = rec.heads
    assert (head.method, head.path, head.query, head.version) == ("GET", "/a/b", "x=1&y=2", "1.1")
    assert head.headers.get("HOST") == "example"
    assert head.keep_alive
    assert rec.ends == 1


def test_pipelined_requests_come_out_in_order() -> None:
    data = b"".join(b"GET /%d HTTP/1.1\r\nHost: h\r\n\r\n" % i for i in range(5))
    assert [h.path for h in parse(data).heads] == [f"/{i}" for i in range(5)]


def test_head_split_byte_by_byte() -> None:
    data = b"GET /slow HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\n"
    rec = parse([data[i : i + 1] for i in range(len(data))])
    assert rec.heads[0].path == "/slow"
    assert rec.heads[0].headers.get("x-a") == "1"


def test_content_length_body() -> None:
    rec = parse(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello")
    assert b"".join(rec.bodies) == b"hello"


def test_chunked_body() -> None:
    rec = parse(
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    assert b"".join(rec.bodies) == b"abcde"
    assert rec.ends == 1


def test_http10_closes_by_default_and_keeps_alive_on_request() -> None:
    assert not parse(b"GET / HTTP/1.0\r\n\r\n").heads[0].keep_alive
    assert parse(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").heads[0].keep_alive


def test_connection_close() -> None:
    assert not parse(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").heads[0].keep_alive


def test_repeated_headers_join_and_cookies_join_with_semicolon() -> None:
    head = parse(
        b"GET / HTTP/1.1\r\nHost: h\r\nAccept: a\r\nAccept: b\r\nCookie: x=1\r\nCookie: y=2\r\n\r\n"
    ).heads[0]
    assert head.headers.get("accept") == "a, b"
    assert head.headers.getall("accept") == ["a", "b"]
    assert head.headers.get("cookie") == "x=1; y=2"


def test_parsed_headers_read_as_headers_built_field_by_field() -> None:
    # The parser lowers names as it reads them and maps them in one step when none
    # repeats: what a handler reads must be what Headers(...) gives for the same lines.
    for raw in (
        b"GET / HTTP/1.1\r\nHost: h\r\nX-One: 1\r\nACCEPT: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX-One: 1\r\nx-one: 2\r\nAccept: a\r\n\r\n",
    ):
        parsed = parse(raw).heads[0].headers
        lines = raw.decode().split("\r\n")[1:-2]
        built = Headers((name, value) for name, _, value in (x.partition(": ") for x in lines))
        assert parsed.items() == built.items()
        for name in ("host", "X-One", "accept", "missing"):
            assert parsed.get(name) == built.get(name)
            assert parsed.getall(name) == built.getall(name)
            assert (name in parsed) == (name in built)


def test_absolute_form_target_rfc9112_3_2_2() -> None:
    head = parse(b"GET http://example.com/p/q?z=1 HTTP/1.1\r\nHost: example.com\r\n\r\n").heads[0]
    assert (head.path, head.query) == ("/p/q", "z=1")


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/", ("/", "")),
        ("/a?b", ("/a", "b")),
        ("/a?b?c", ("/a", "b?c")),
        ("*", ("*", "")),
        ("http://h", ("/", "")),
        ("HTTPS://h/x", ("/x", "")),
    ],
)
def test_split_target(target: str, expected: tuple[str, str]) -> None:
    assert split_target(target) == expected


def test_missing_host_in_http11_is_400_rfc9112_3_2() -> None:
    assert status_of(b"GET / HTTP/1.1\r\n\r\n") == 400


def test_two_hosts_is_400_rfc9112_3_2() -> None:
    assert status_of(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") == 400


def test_garbage_is_400() -> None:
    assert status_of(b"\x00\x01\x02 nonsense\r\n\r\n") in (400, 501)
    assert status_of(b"GET / HTTP/1.1\r\nHost h\r\n\r\n") == 400


def test_content_length_with_transfer_encoding_is_400_rfc9112_6_1() -> None:
    data = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert status_of(data) == 400


def test_unknown_method_is_501_rfc9110_15_6_2() -> None:
    assert status_of(b"BREW / HTTP/1.1\r\nHost: h\r\n\r\n") == 501


def test_http2_preface_is_505() -> None:
    assert status_of(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") == 505


def test_unknown_version_is_505() -> None:
    assert status_of(b"GET / HTTP/1.2\r\nHost: h\r\n\r\n") == 505
    assert status_of(b"GET / HTTP/3.0\r\nHost: h\r\n\r\n") == 505


def test_http09_is_505() -> None:
    assert status_of(b"GET /x\r\n\r\n") == 505


def test_tls_on_plain_port_is_400() -> None:
    assert status_of(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03") == 400


def test_request_line_too_long_is_414() -> None:
    limits = ParserLimits(max_request_line=100)
    assert status_of(b"GET /" + b"a" * 200 + b" HTTP/1.1\r\nHost: h\r\n\r\n", limits) == 414


def test_request_line_too_long_across_reads_is_414() -> None:
    limits = ParserLimits(max_request_line=100)
    assert status_of([b"GET /" + b"a" * 60, b"b" * 60, b"c" * 60], limits) == 414


def test_too_many_headers_is_431() -> None:
    fields = b"".join(b"X-%d: v\r\n" % i for i in range(20))
    assert (
        status_of(b"GET / HTTP/1.1\r\nHost: h\r\n" + fields + b"\r\n", ParserLimits(max_headers=10))
        == 431
    )


def test_header_section_too_large_is_431() -> None:
    data = b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + b"v" * 2000 + b"\r\n\r\n"
    assert status_of(data, ParserLimits(max_header_bytes=1000)) == 431


def test_unfinished_giant_header_is_431_before_it_ends() -> None:
    limits = ParserLimits(max_request_line=100, max_header_bytes=1000)
    pieces = [b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: "] + [b"v" * 500] * 4
    assert status_of(pieces, limits) == 431


def test_pipelined_batch_larger_than_head_limit_is_not_mistaken_for_a_big_head() -> None:
    limits = ParserLimits(max_request_line=100, max_header_bytes=400)
    one = b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n"
    batch = one * 40 + b"GET /y HTTP/1.1\r\nHo"
    rec = parse([batch, b"st: h\r\n\r\n"], limits)
    assert len(rec.heads) == 41


def test_body_over_limit_by_content_length_is_413() -> None:
    data = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2000\r\n\r\n"
    assert status_of(data, ParserLimits(max_body=1000)) == 413


def test_chunked_body_over_limit_is_413() -> None:
    chunk = b"100\r\n" + b"x" * 256 + b"\r\n"
    data = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 8
    assert status_of(data, ParserLimits(max_body=1000)) == 413


def test_asterisk_form_only_for_options() -> None:
    assert parse(b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n").heads[0].path == "*"
    assert status_of(b"GET * HTTP/1.1\r\nHost: h\r\n\r\n") == 400


def test_upgrade_stops_parsing_and_reports_the_offset() -> None:
    recorder = Recorder()
    parser = RequestParser(recorder, ParserLimits())
    request = b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    parser.feed(request + b"FRAME")
    assert recorder.heads[0].upgrade
    assert parser.upgrade_offset == len(request)


# -- the sink answers each head with that request's body bound ---------------------------


class BoundingRecorder(Recorder):
    """Lets ``/upload/`` send 1000 bytes; the rest keep ``limits.max_body``."""

    def on_request_head(self, head: RequestHead) -> int | None:
        super().on_request_head(head)
        return 1000 if head.path == "/upload/" else None


def _post(path: str, body: bytes) -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


def test_the_sink_bounds_each_body() -> None:
    sink = BoundingRecorder()
    RequestParser(sink, ParserLimits(max_body=10)).feed(_post("/upload/", b"x" * 900))
    assert b"".join(sink.bodies) == b"x" * 900
    with pytest.raises(ProtocolError) as raised:
        RequestParser(BoundingRecorder(), ParserLimits(max_body=10)).feed(_post("/page", b"x" * 11))
    assert raised.value.status == 413
    with pytest.raises(ProtocolError):
        RequestParser(BoundingRecorder(), ParserLimits(max_body=10)).feed(
            _post("/upload/", b"x" * 1001)
        )
    chunked = (
        b"POST /upload/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"3e8\r\n"
        + b"x" * 1000
        + b"\r\n1\r\nx\r\n0\r\n\r\n"
    )
    with pytest.raises(ProtocolError):
        RequestParser(BoundingRecorder(), ParserLimits(max_body=10)).feed(chunked)
    # Each request of a pipeline gets its own bound.
    sink = BoundingRecorder()
    RequestParser(sink, ParserLimits(max_body=10)).feed(
        _post("/upload/", b"x" * 900) + _post("/page", b"y" * 10)
    )
    assert [head.path for head in sink.heads] == ["/upload/", "/page"]


# -- the Host field (RFC 9112 section 3.2, RFC 9110 section 7.2, RFC 3986 section 3.2.2) --


def _get(host_lines: bytes, version: bytes = b"1.1") -> bytes:
    return b"GET / HTTP/" + version + b"\r\n" + host_lines + b"\r\n"


@pytest.mark.parametrize(
    "host",
    [
        b"[::1]:8000",
        b"[::1]",
        b"Example.COM",
        b"example.com:8000",
        b"127.0.0.1",
        b"127.0.0.1:80",
        b"my-host_1.local",
        b"h%2Dx",
        b"[v1.fe]",
        b"[::ffff:192.0.2.1]",
        b"host:",  # port = *DIGIT (RFC 3986 section 3.2.3): an empty port is in the grammar
        b"",  # no authority: the client sends an empty Host (RFC 9112 section 3.2)
        b"  example.com\t",  # OWS around the value is not part of it
    ],
)
def test_valid_host_values_are_served(host: bytes) -> None:
    (head,) = parse(_get(b"Host: " + host + b"\r\n")).heads
    assert head.headers.get("host") is not None


@pytest.mark.parametrize(
    "host",
    [
        b"u@x",  # userinfo
        b"user:pw@x:80",
        b"x/y",  # a path
        b"x?y",
        b"x#y",
        b"a b",
        b"x:8a",
        b"a:b:c",
        b"::1",  # an IPv6 address needs its brackets
        b"[::1",
        b"[::1]x",
        b"[not-v6]",
        b"[fe80::1%25eth0]",  # zone identifiers are not in RFC 3986's IP-literal
        b"h%zz",
        b"caf\xc3\xa9.example",
        b"x\\y",
    ],
)
def test_invalid_host_value_is_400_rfc9112_3_2(host: bytes) -> None:
    assert status_of(_get(b"Host: " + host + b"\r\n")) == 400
    assert status_of(_get(b"Host: " + host + b"\r\n", b"1.0")) == 400


def test_two_hosts_in_http10_is_400_rfc9112_3_2() -> None:
    assert status_of(_get(b"Host: a\r\nHost: a\r\n", b"1.0")) == 400


def test_http10_needs_no_host() -> None:
    assert parse(_get(b"", b"1.0")).heads[0].headers.get("host") is None


def test_absolute_form_authority_is_checked_rfc9110_4_2() -> None:
    ok = parse(b"GET http://[::1]:8000/p HTTP/1.1\r\nHost: [::1]:8000\r\n\r\n").heads[0]
    assert ok.path == "/p"
    for target in (b"http://u@x/", b"http:///p", b"http://x y/", b"https://a:b:c/"):
        assert status_of(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n") == 400


# -- Transfer-Encoding (RFC 9112 sections 6.1, 6.3 and 7) ---------------------------------

CHUNKED_BODY = b"3\r\nabc\r\n0\r\n\r\n"


def _post_te(*values: bytes, version: bytes = b"1.1") -> bytes:
    fields = b"".join(b"Transfer-Encoding: " + value + b"\r\n" for value in values)
    return b"POST / HTTP/" + version + b"\r\nHost: h\r\n" + fields + b"\r\n" + CHUNKED_BODY


@pytest.mark.parametrize(
    "value", [b"chunked", b"Chunked", b"CHUNKED", b", chunked", b" ,  , chunked", b"chunked "]
)
def test_chunked_spellings_keep_working(value: bytes) -> None:
    rec = parse(_post_te(value))
    assert (b"".join(rec.bodies), rec.ends) == (b"abc", 1)


@pytest.mark.parametrize(
    "values",
    [
        (b"gzip, chunked",),
        (b"gzip,chunked",),
        (b"gzip,,chunked",),
        (b"identity, chunked",),
        (b"x-custom;q=1, chunked",),
        (b'x;name="a, b", chunked',),
        (b"gzip", b"chunked"),  # the same list over two lines (RFC 9110 section 5.3)
    ],
)
def test_unimplemented_transfer_coding_is_501_rfc9112_6_1(values: tuple[bytes, ...]) -> None:
    assert status_of(_post_te(*values)) == 501


@pytest.mark.parametrize(
    "values",
    [
        (b"gzip",),  # chunked is not final: the length cannot be known (6.3 item 4)
        (b"chunked, gzip",),
        (b"chunked", b"gzip"),
        (b"chunked, chunked",),  # chunked only once (section 7)
        (b"chunked", b"chunked"),
        (b"gz ip, chunked",),  # not a transfer-coding at all
        (b'"gzip", chunked',),
        (b"",),
        (b",",),
    ],
)
def test_chunked_not_final_or_malformed_is_400_rfc9112_6_3(values: tuple[bytes, ...]) -> None:
    assert status_of(_post_te(*values)) == 400


def test_transfer_encoding_in_http10_is_400_rfc9112_6_1() -> None:
    assert status_of(_post_te(b"chunked", version=b"1.0")) == 400


def test_content_length_beside_transfer_encoding_is_refused_rfc9112_6_3() -> None:
    # 6.3 item 3 lets a server refuse the pair (llhttp does); the connection closes after.
    for first, second in ((b"Content-Length: 3", b"Transfer-Encoding: chunked"),) * 2:
        data = b"POST / HTTP/1.1\r\nHost: h\r\n" + first + b"\r\n" + second + b"\r\n\r\n"
        assert status_of(data + CHUNKED_BODY) == 400
    data = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
    assert status_of(data + CHUNKED_BODY) == 400


# -- persistence (RFC 9112 section 9.3) -----------------------------------------------------


@pytest.mark.parametrize(
    ("version", "connection", "persists"),
    [
        (b"1.1", None, True),
        (b"1.1", b"close", False),
        (b"1.1", b"Keep-Alive, Close", False),
        (b"1.1", b"x, close", False),
        (b"1.1", b"closed", True),
        (b"1.0", None, False),
        (b"1.0", b"keep-alive", True),
        (b"1.0", b"Keep-Alive", True),
        (b"1.0", b"keep-alive, close", False),  # close wins (section 9.6); llhttp kept it
        (b"1.0", b"keep-alive\r\nConnection: close", False),
    ],
)
def test_connection_persists_per_rfc9112_9_3(
    version: bytes, connection: bytes | None, persists: bool
) -> None:
    field = b"" if connection is None else b"Connection: " + connection + b"\r\n"
    data = b"GET / HTTP/" + version + b"\r\nHost: h\r\n" + field + b"\r\n"
    assert parse(data).heads[0].keep_alive is persists


# -- chunk sizes against the body limit (RFC 9110 section 15.5.14) -------------------------

CHUNKED_HEAD = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize(
    "pieces",
    [
        [CHUNKED_HEAD + b"FFFFFFFFFFFFFFFF\r\n"],
        [CHUNKED_HEAD + b"FFFFFFFFFFFFFFFF\r\nabc"],
        [CHUNKED_HEAD, b"3e9\r\n"],
        [CHUNKED_HEAD + b"3e", b"9\r", b"\n"],
        [CHUNKED_HEAD + b"0000000000000000000000003e9;name=value\r\nx"],
        [CHUNKED_HEAD + b"0000000000", b"00000000000", b"3e9;long", b"-extension=1\r\n"],
        [CHUNKED_HEAD + b"3\r\nabc\r\n3e6\r\nx"],  # 3 + 998 bytes: one over
        [CHUNKED_HEAD + b"3\r\nabc\r\n", b"3e6\r\n"],
    ],
)
def test_a_chunk_declaring_more_than_the_limit_is_413_at_once(pieces: list[bytes]) -> None:
    assert status_of(pieces, ParserLimits(max_body=1000)) == 413


@pytest.mark.parametrize(
    "pieces",
    [
        [CHUNKED_HEAD + b"3e8\r\n"],  # exactly the limit: wait for it
        [CHUNKED_HEAD + b"3\r\nabc\r\n3e5\r\nx"],
        [CHUNKED_HEAD + b"0\r\n"],  # the last chunk, trailers to come
        [CHUNKED_HEAD + b"0\r\nabc: 1\r\n"],  # a trailer that starts like a size
        [CHUNKED_HEAD + b"0\r\nabc", b"def: 1\r\n"],
        [CHUNKED_HEAD + b"3e", b"8\r\n" + b"x" * 500],
    ],
)
def test_a_chunk_within_the_limit_is_waited_for(pieces: list[bytes]) -> None:
    rec = parse(pieces, ParserLimits(max_body=1000))
    assert len(rec.heads) == 1 and rec.ends == 0


def test_chunked_body_split_anywhere_is_read_whole() -> None:
    data = CHUNKED_HEAD + b"5;a=1\r\nhello\r\n000a\r\n0123456789\r\n0\r\nT: v\r\n\r\n"
    for cut in range(len(CHUNKED_HEAD), len(data)):
        rec = parse([data[:cut], data[cut:]], ParserLimits(max_body=15))
        assert (b"".join(rec.bodies), rec.ends) == (b"hello0123456789", 1), cut


# -- Content-Length (RFC 9110 section 8.6, RFC 9112 section 6.3) --------------------------


@pytest.mark.parametrize(
    ("value", "length"),
    [
        ("0", 0),
        ("5", 5),
        ("005", 5),
        ("5, 5", 5),  # a repeated field's lines, joined: one length (8.6)
        ("5,5", 5),
        (" 5 ", 5),
        ("0" * 5000 + "7", 7),  # leading zeros are no reason for int() to fail
        ("9" * 18, 10**18 - 1),
        (None, None),
    ],
)
def test_content_length_reads_1_digit_and_lists_of_one_length(
    value: str | None, length: int | None
) -> None:
    assert declared_length(value) == length


@pytest.mark.parametrize(
    "value",
    ["", ",", "5, 6", "-1", "+1", "0x10", "1e3", "5 5", "\xb2", "\u0665", "9" * 19, "9" * 5000],
)
def test_any_other_content_length_is_400_rfc9112_6_3(value: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        declared_length(value)
    assert caught.value.status == 400


def test_the_parser_reads_content_length_with_the_shared_rule() -> None:
    data = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 005\r\n\r\nabcde"
    assert parse(data).bodies == [b"abcde"]
    limits = ParserLimits(max_body=4)
    assert status_of(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 005\r\n\r\n", limits) == 413
