"""The ASGI adapter driven with fake ``receive`` and ``send``: no server, no socket.

Scopes become Requests as the built-in parser makes them, bodies are pulled
one message at a time, responses are framed by the writer's rule, files go
out with pathsend or in bounded pieces, lifespan starts the stack once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Iterable
from pathlib import Path

import pytest

from siteserve.asgi import ROOT_VARIABLE, asgi_config, config_from_environment, create_app
from siteserve.asgi.app import SiteserveAsgi
from siteserve.asgi.request import ReceivedBody, expects_body, request_from_scope
from siteserve.asgi.response import CHUNK, send_response
from siteserve.asgi.types import HttpScope, Message, ReceivedMessage
from siteserve.config import Config, ConfigError, build_config
from siteserve.http.framing import declared_length
from siteserve.http.request import BodyIncomplete, BodyTooLarge, Request
from siteserve.http.response import FileBody, Response
from siteserve.layers import App


def scope(
    method: str = "GET",
    raw_path: bytes | None = b"/",
    *,
    path: str = "/",
    query: bytes = b"",
    headers: Iterable[tuple[bytes, bytes]] = ((b"host", b"example.test"),),
    version: str = "1.1",
    extensions: dict[str, object] | None = None,
) -> HttpScope:
    result: HttpScope = {
        "type": "http",
        "http_version": version,
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": raw_path,
        "query_string": query,
        "headers": list(headers),
        "client": ["127.0.0.1", "5000"],
        "server": ("127.0.0.1", 8000),
        "extensions": extensions,
    }
    return result


class Wire:
    """A fake ASGI server side: queued ``receive`` messages, recorded ``send`` messages."""

    def __init__(self, messages: Iterable[ReceivedMessage] = ()) -> None:
        self.inbox: asyncio.Queue[ReceivedMessage] = asyncio.Queue()
        for message in messages:
            self.inbox.put_nowait(message)
        self.received = 0
        self.sent: list[Message] = []

    async def receive(self) -> ReceivedMessage:
        message = await self.inbox.get()
        self.received += 1
        return message

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    @property
    def status(self) -> object:
        return self.sent[0]["status"]

    @property
    def headers(self) -> dict[bytes, bytes]:
        raw = self.sent[0]["headers"]
        assert isinstance(raw, list)
        return dict(raw)

    @property
    def body(self) -> bytes:
        chunks = [m["body"] for m in self.sent[1:] if m["type"] == "http.response.body"]
        return b"".join(chunk for chunk in chunks if isinstance(chunk, bytes))


def run(awaitable: Awaitable[None]) -> None:
    async def main() -> None:
        await asyncio.wait_for(awaitable, 5)

    asyncio.run(main())


class FakeApp(App):
    """Answers with ``answer(request)``; counts startups and shutdowns; ``limit`` is its bound."""

    def __init__(self, answer: object, limit: int | None = None) -> None:
        self.answer = answer
        self.limit = limit
        self.started = 0
        self.stopped = 0
        self.seen: list[Request] = []

    def handle(self, request: Request) -> Response | Awaitable[Response]:
        self.seen.append(request)
        assert callable(self.answer)
        result = self.answer(request)
        assert isinstance(result, Response) or asyncio.iscoroutine(result)
        return result

    async def startup(self) -> None:
        await asyncio.sleep(0)  # a start that yields, so concurrent first requests meet
        self.started += 1

    async def shutdown(self) -> None:
        self.stopped += 1

    def body_limit(self, request: Request) -> int | None:
        return self.limit


def asgi_for(app: FakeApp, tmp_path: Path) -> SiteserveAsgi:
    config = build_config(tmp_path, reload=False, limits={"max_body": 1000})
    return SiteserveAsgi(lambda: config, build=lambda _config: app)


# -- scope -> Request ----------------------------------------------------------------------


def test_request_keeps_the_path_percent_encoded_as_on_the_wire() -> None:
    request = request_from_scope(
        scope(raw_path=b"/a%2Fb/c%20d", path="/a/b/c d", query=b"x=%20y&z")
    )
    assert request.path == "/a%2Fb/c%20d"
    assert request.query == "x=%20y&z"
    assert request.target == "/a%2Fb/c%20d?x=%20y&z"
    assert request.client == ("127.0.0.1", 5000)
    assert request.headers.get("host") == "example.test"
    assert request.version == "1.1"


def test_request_without_raw_path_encodes_the_decoded_path_again() -> None:
    request = request_from_scope(scope(raw_path=None, path="/café/a b.txt"))
    assert request.path == "/caf%C3%A9/a%20b.txt"
    assert request.target == request.path


def test_repeated_headers_are_joined_as_the_parser_joins_them() -> None:
    request = request_from_scope(
        scope(headers=[(b"cookie", b"a=1"), (b"cookie", b"b=2"), (b"accept", b"x")])
    )
    assert request.headers.get("cookie") == "a=1; b=2"


@pytest.mark.parametrize(
    ("method", "version", "headers", "expected"),
    [
        ("GET", "1.1", [], False),
        ("POST", "1.1", [(b"content-length", b"0")], False),
        ("POST", "1.1", [(b"content-length", b"5")], True),
        ("POST", "1.1", [(b"transfer-encoding", b"chunked")], True),
        ("POST", "1.1", [], False),
        ("POST", "2", [], True),
        ("GET", "2", [], False),
        ("PUT", "2", [(b"content-length", b"0")], False),
    ],
)
def test_expects_body(
    method: str, version: str, headers: list[tuple[bytes, bytes]], expected: bool
) -> None:
    request = request_from_scope(scope(method, version=version, headers=headers))
    length = declared_length(request.headers.get("content-length"))
    assert expects_body(request, length) is expected


# -- request bodies ----------------------------------------------------------------------


def test_body_is_pulled_only_as_the_handler_reads() -> None:
    messages: list[ReceivedMessage] = [
        {"type": "http.request", "body": b"ab", "more_body": True},
        {"type": "http.request", "body": b"cd", "more_body": True},
        {"type": "http.request", "body": b"", "more_body": False},
    ]
    wire = Wire(messages)

    async def main() -> None:
        body = ReceivedBody(wire.receive, 100)
        assert wire.received == 0
        stream = body.stream()
        assert await anext(stream) == b"ab"
        assert wire.received == 1  # the server holds the rest until it is asked for
        assert await anext(stream) == b"cd"
        assert not body.complete
        assert [chunk async for chunk in stream] == []
        assert body.complete
        assert body.received == 4

    run(main())


def test_body_past_its_bound_raises_too_large() -> None:
    wire = Wire([{"type": "http.request", "body": b"x" * 60, "more_body": True}] * 2)

    async def main() -> None:
        body = ReceivedBody(wire.receive, 100)
        with pytest.raises(BodyTooLarge):
            await body.read()
        assert body.too_large
        assert not body.complete

    run(main())


def test_disconnect_mid_body_is_incomplete() -> None:
    wire = Wire(
        [{"type": "http.request", "body": b"x", "more_body": True}, {"type": "http.disconnect"}]
    )

    async def main() -> None:
        with pytest.raises(BodyIncomplete):
            await ReceivedBody(wire.receive, 100).read()

    run(main())


def echo(request: Request) -> Awaitable[Response]:
    async def answer() -> Response:
        try:
            data = await request.body.read()
        except BodyTooLarge:
            return Response(400, [], b"the handler saw it too")
        return Response(200, [], data)

    return answer()


def test_an_echoed_body_through_the_app(tmp_path: Path) -> None:
    fake = FakeApp(echo)
    asgi = asgi_for(fake, tmp_path)
    wire = Wire(
        [
            {"type": "http.request", "body": b"hello ", "more_body": True},
            {"type": "http.request", "body": b"world", "more_body": False},
        ]
    )
    headers = [(b"content-length", b"11")]
    run(asgi(scope("POST", headers=headers), wire.receive, wire.send))
    assert wire.status == 200
    assert wire.body == b"hello world"
    assert wire.headers[b"content-length"] == b"11"


def test_declared_length_over_the_bound_is_refused_before_the_handler(tmp_path: Path) -> None:
    fake = FakeApp(echo)
    asgi = asgi_for(fake, tmp_path)
    wire = Wire()
    run(asgi(scope("POST", headers=[(b"content-length", b"1001")]), wire.receive, wire.send))
    assert wire.status == 413
    assert wire.received == 0
    assert fake.seen == []


@pytest.mark.parametrize("version", ["1.1", "2"])
@pytest.mark.parametrize(
    # "\xb2" (superscript two) is a latin-1 character str.isdigit() accepts and int() refuses.
    "value",
    [b"\xb2", b"2, 3", b"-2", b"", b"0x2"],
)
def test_an_invalid_content_length_is_400_before_the_handler(
    tmp_path: Path, value: bytes, version: str
) -> None:
    # RFC 9112 section 6.3 item 5; under HTTP/2 the front server hands the field on as sent.
    fake = FakeApp(echo)
    wire = Wire([{"type": "http.request", "body": b"hi", "more_body": False}])
    headers = [(b"content-length", value)]
    request = scope("POST", version=version, headers=headers)
    run(asgi_for(fake, tmp_path)(request, wire.receive, wire.send))
    assert wire.status == 400
    assert b"invalid Content-Length" in wire.body
    assert (wire.received, fake.seen) == (0, [])


def test_a_list_of_one_content_length_is_that_length(tmp_path: Path) -> None:
    wire = Wire([{"type": "http.request", "body": b"hi", "more_body": False}])
    headers = [(b"content-length", b"2"), (b"content-length", b"2")]
    run(asgi_for(FakeApp(echo), tmp_path)(scope("POST", headers=headers), wire.receive, wire.send))
    assert (wire.status, wire.body) == (200, b"hi")
    over = Wire()
    headers = [(b"content-length", b"1001, 1001")]
    run(asgi_for(FakeApp(echo), tmp_path)(scope("POST", headers=headers), over.receive, over.send))
    assert (over.status, over.received) == (413, 0)


def test_an_upload_with_an_invalid_length_is_400_not_500(tmp_path: Path) -> None:
    # Uploads read the length as everyone does: before, "\xb2" reached int() and answered 500.
    asgi = create_app(tmp_path, upload=True)
    wire = Wire([{"type": "http.request", "body": b"--b--\r\n", "more_body": False}])
    headers = [
        (b"content-length", b"\xb2"),
        (b"content-type", b"multipart/form-data; boundary=b"),
        (b"host", b"localhost"),
    ]
    run(asgi(scope("POST", version="2", headers=headers), wire.receive, wire.send))
    assert wire.status == 400


def test_the_apps_own_bound_wins_over_max_body(tmp_path: Path) -> None:
    fake = FakeApp(echo, limit=5000)
    asgi = asgi_for(fake, tmp_path)
    wire = Wire([{"type": "http.request", "body": b"x" * 2000, "more_body": False}])
    run(asgi(scope("POST", headers=[(b"content-length", b"2000")]), wire.receive, wire.send))
    assert wire.status == 200


def test_a_chunked_body_past_the_bound_answers_413(tmp_path: Path) -> None:
    fake = FakeApp(echo)
    asgi = asgi_for(fake, tmp_path)
    wire = Wire([{"type": "http.request", "body": b"x" * 600, "more_body": True}] * 2)
    headers = [(b"transfer-encoding", b"chunked")]
    run(asgi(scope("POST", headers=headers), wire.receive, wire.send))
    assert wire.status == 413
    assert b"request body too large" in wire.body


def test_a_handler_error_answers_500(tmp_path: Path) -> None:
    def fail(request: Request) -> Response:
        raise RuntimeError("boom")

    wire = Wire()
    run(asgi_for(FakeApp(fail), tmp_path)(scope(), wire.receive, wire.send))
    assert wire.status == 500


# -- Response -> messages ---------------------------------------------------------------------


def sent(
    response: Response,
    method: str = "GET",
    *,
    http1: bool = True,
    pathsend: bool = False,
    receive: Wire | None = None,
) -> Wire:
    wire = receive or Wire()
    run(
        send_response(
            wire.send,
            response,
            method=method,
            http1=http1,
            pathsend=pathsend,
            receive=wire.receive,
        )
    )
    return wire


def test_bytes_get_a_content_length_and_lower_case_names() -> None:
    wire = sent(Response(200, [("Content-Type", "text/plain")], b"hello"))
    assert wire.headers == {b"content-type": b"text/plain", b"content-length": b"5"}
    assert wire.sent[1] == {"type": "http.response.body", "body": b"hello"}


def test_head_keeps_the_length_and_sends_no_body() -> None:
    wire = sent(Response(200, [], b"hello"), "HEAD")
    assert wire.headers[b"content-length"] == b"5"
    assert wire.body == b""


@pytest.mark.parametrize("status", [204, 304])
def test_no_content_statuses_carry_no_length(status: int) -> None:
    wire = sent(Response(status, [("ETag", '"x"')], b""))
    assert b"content-length" not in wire.headers
    assert wire.body == b""


def test_closing_responses_say_so_on_http1_only() -> None:
    assert sent(Response(400, [], b"", close=True)).headers[b"connection"] == b"close"
    assert b"connection" not in sent(Response(400, [], b"", close=True), http1=False).headers


async def pieces(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def test_a_stream_without_length_is_left_to_the_server_to_chunk() -> None:
    wire = sent(Response(200, [], pieces(b"a", b"", b"b")))
    assert b"content-length" not in wire.headers
    assert [m.get("more_body", False) for m in wire.sent[1:]] == [True, True, False]
    assert wire.body == b"ab"


def test_a_stream_with_a_length_declares_it() -> None:
    wire = sent(Response(200, [], pieces(b"abc"), length=3))
    assert wire.headers[b"content-length"] == b"3"


def test_head_of_a_stream_closes_it_unread() -> None:
    class Stream:
        """An endless body that says when it is closed."""

        closed = False

        def __aiter__(self) -> Stream:
            return self

        async def __anext__(self) -> bytes:
            return b"never sent"

        async def aclose(self) -> None:
            self.closed = True

    stream = Stream()
    wire = sent(Response(200, [], stream), "HEAD")
    assert wire.body == b""
    assert stream.closed


def test_a_stream_is_closed_when_the_servers_send_fails() -> None:
    # hypercorn's send raises once the client is gone, the start message included.
    closed: list[bool] = []

    async def stream() -> AsyncIterator[bytes]:
        try:
            yield b"never sent"
        finally:
            closed.append(True)

    async def gone(message: Message) -> None:
        raise ConnectionResetError("client gone")

    async def main() -> None:
        body = stream()
        await body.__anext__()  # started: its finally has something to run
        with pytest.raises(ConnectionResetError):
            await send_response(
                gone,
                Response(200, [], body),
                method="GET",
                http1=True,
                pathsend=False,
                receive=None,
            )
        assert closed == [True]  # now, not when the loop shuts its generators down

    run(main())


def big_file(tmp_path: Path, size: int = 3 * CHUNK + 100) -> tuple[Path, bytes]:
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    return path, data


def test_a_small_file_is_one_message(tmp_path: Path) -> None:
    path = tmp_path / "small.txt"
    path.write_bytes(b"small file")
    wire = sent(Response(200, [], FileBody(path, 0, 10)))
    assert wire.sent[1] == {"type": "http.response.body", "body": b"small file"}


def test_a_file_that_changed_size_is_not_sent_by_pathsend(tmp_path: Path) -> None:
    path = tmp_path / "grown.txt"
    path.write_bytes(b"small file, grown")
    wire = sent(Response(200, [], FileBody(path, 0, 10)), pathsend=True)
    assert wire.sent[1] == {"type": "http.response.body", "body": b"small file"}


def test_a_whole_file_goes_by_pathsend_when_offered(tmp_path: Path) -> None:
    path, data = big_file(tmp_path)
    wire = sent(Response(200, [], FileBody(path, 0, len(data))), pathsend=True)
    assert wire.headers[b"content-length"] == str(len(data)).encode()
    assert wire.sent[1:] == [{"type": "http.response.pathsend", "path": str(path)}]


def test_without_pathsend_a_file_goes_in_bounded_pieces(tmp_path: Path) -> None:
    path, data = big_file(tmp_path)
    wire = sent(Response(200, [], FileBody(path, 0, len(data))))
    bodies = wire.sent[1:]
    assert all(len(m["body"]) <= CHUNK for m in bodies)  # type: ignore[arg-type]
    assert [m["more_body"] for m in bodies] == [True, True, True, False]
    assert wire.body == data


def test_a_range_never_goes_by_pathsend(tmp_path: Path) -> None:
    path, data = big_file(tmp_path)
    wire = sent(Response(206, [], FileBody(path, 1000, 2 * CHUNK)), pathsend=True)
    assert all(m["type"] == "http.response.body" for m in wire.sent[1:])
    assert wire.body == data[1000 : 1000 + 2 * CHUNK]


def test_the_next_piece_is_read_only_once_the_last_is_sent(tmp_path: Path) -> None:
    path, data = big_file(tmp_path)
    released = asyncio.Event()
    seen_while_blocked: list[int] = []

    class SlowClient(Wire):
        async def send(self, message: Message) -> None:
            await super().send(message)
            if len(self.sent) == 2:  # the first piece: the client stops reading
                seen_while_blocked.append(len(self.sent))
                await released.wait()

    wire = SlowClient()

    async def main() -> None:
        sending = asyncio.ensure_future(
            send_response(
                wire.send,
                Response(200, [], FileBody(path, 0, len(data))),
                method="GET",
                http1=True,
                pathsend=False,
                receive=wire.receive,
            )
        )
        for _ in range(20):
            await asyncio.sleep(0)
        assert len(wire.sent) == 2  # start + one piece, and nothing read ahead
        released.set()
        await sending

    run(main())
    assert seen_while_blocked == [2]
    assert wire.body == data


def test_a_disconnect_ends_an_endless_stream(tmp_path: Path) -> None:
    closed: list[bool] = []

    async def endless() -> AsyncIterator[bytes]:
        try:
            while True:
                await asyncio.sleep(0)
                yield b"more"
        finally:
            closed.append(True)

    five_sent = asyncio.Event()

    class Counting(Wire):
        async def send(self, message: Message) -> None:
            await super().send(message)
            if len(self.sent) >= 5:
                five_sent.set()

    wire = Counting()

    async def main() -> None:
        sending = asyncio.ensure_future(
            send_response(
                wire.send,
                Response(200, [], endless()),
                method="GET",
                http1=True,
                pathsend=False,
                receive=wire.receive,
            )
        )
        await five_sent.wait()
        wire.inbox.put_nowait({"type": "http.disconnect"})
        await sending

    run(main())
    assert closed == [True]
    assert wire.sent[-1].get("more_body") is True  # never finished for a client that left


# -- lifespan, start without it, websockets ----------------------------------------------------


def ok(request: Request) -> Response:
    return Response(200, [], b"ok")


def test_lifespan_starts_and_stops_the_stack(tmp_path: Path) -> None:
    fake = FakeApp(ok)
    asgi = asgi_for(fake, tmp_path)
    wire = Wire([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    run(asgi({"type": "lifespan"}, wire.receive, wire.send))
    assert [m["type"] for m in wire.sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
    assert (fake.started, fake.stopped) == (1, 1)


def test_without_lifespan_concurrent_first_requests_start_it_once(tmp_path: Path) -> None:
    fake = FakeApp(ok)
    asgi = asgi_for(fake, tmp_path)
    wires = [Wire() for _ in range(5)]

    async def main() -> None:
        await asyncio.gather(*(asgi(scope(), w.receive, w.send) for w in wires))

    run(main())
    assert fake.started == 1
    assert [w.status for w in wires] == [200] * 5


def test_a_config_error_fails_the_lifespan_startup_in_one_line(tmp_path: Path) -> None:
    def configure() -> Config:
        raise ConfigError("folder not found: /nowhere")

    asgi = SiteserveAsgi(configure)
    wire = Wire([{"type": "lifespan.startup"}])
    run(asgi({"type": "lifespan"}, wire.receive, wire.send))
    assert wire.sent == [
        {"type": "lifespan.startup.failed", "message": "siteserve: folder not found: /nowhere"}
    ]


def test_a_config_error_without_lifespan_answers_500_and_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def configure() -> Config:
        raise ConfigError("folder not found: /nowhere")

    asgi = SiteserveAsgi(configure)
    wires = [Wire(), Wire()]
    for wire in wires:
        run(asgi(scope(), wire.receive, wire.send))
    assert [w.status for w in wires] == [500, 500]
    assert [r.getMessage() for r in caplog.records] == ["siteserve: folder not found: /nowhere"]


class FailingStart(FakeApp):
    """A stack whose startup raises ``error``, counting how often it was tried."""

    def __init__(self, error: Exception) -> None:
        super().__init__(ok)
        self.error = error
        self.tries = 0

    async def startup(self) -> None:
        self.tries += 1
        raise self.error


def test_a_failing_startup_fails_the_lifespan_with_its_traceback_and_stays_failed(
    tmp_path: Path,
) -> None:
    fake = FailingStart(RuntimeError("the disk is gone"))
    asgi = asgi_for(fake, tmp_path)
    wire = Wire([{"type": "lifespan.startup"}])
    run(asgi({"type": "lifespan"}, wire.receive, wire.send))
    (failed,) = wire.sent
    assert failed["type"] == "lifespan.startup.failed"
    message = failed["message"]
    assert isinstance(message, str)
    assert message.startswith("siteserve: startup failed: RuntimeError('the disk is gone')\n")
    assert "Traceback" in message
    # A server that serves on anyway (uvicorn's --lifespan auto treats an exception, not
    # this message, as "lifespan unsupported") gets 500s, never a second try.
    later = Wire()
    run(asgi(scope(), later.receive, later.send))
    assert (later.status, fake.tries) == (500, 1)


def test_a_failing_startup_without_lifespan_is_logged_once_and_not_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FailingStart(RuntimeError("the disk is gone"))
    asgi = asgi_for(fake, tmp_path)
    wires = [Wire(), Wire(), Wire()]
    for wire in wires:
        run(asgi(scope(), wire.receive, wire.send))
    assert [w.status for w in wires] == [500, 500, 500]
    assert fake.tries == 1
    (record,) = caplog.records
    assert record.getMessage() == "siteserve: startup failed: RuntimeError('the disk is gone')"
    assert record.exc_info is not None


def test_websockets_are_refused(tmp_path: Path) -> None:
    wire = Wire([{"type": "websocket.connect"}])
    run(
        asgi_for(FakeApp(ok), tmp_path)({"type": "websocket", "path": "/"}, wire.receive, wire.send)
    )
    assert wire.sent == [{"type": "websocket.close", "code": 1008}]


# -- configuration -------------------------------------------------------------------------------


def test_create_app_validates_options_as_the_cli_does(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as ours:
        create_app(tmp_path, max_upload="lots")
    with pytest.raises(ConfigError) as cli:
        build_config(tmp_path, max_upload="lots")
    assert str(ours.value) == str(cli.value)


def test_create_app_refuses_live_reload(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="live reload"):
        create_app(tmp_path, reload=True)


def test_share_keeps_its_cache_profile_without_a_share_link(tmp_path: Path) -> None:
    config = asgi_config(tmp_path, share=True)
    assert (config.share_link, config.cache_seconds) == ("off", 3600)


def test_a_share_link_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="share links are not available"):
        asgi_config(tmp_path, share_link="ro")
    (tmp_path / "siteserve.toml").write_text('[server]\nshare_link = "rw"\n')
    with pytest.raises(ConfigError, match="share links are not available"):
        asgi_config(tmp_path)


def test_asgi_config_reads_siteserve_toml_with_reload_off(tmp_path: Path) -> None:
    (tmp_path / "siteserve.toml").write_text('[server]\nupload = true\n[site]\ntitle = "T"\n')
    config = asgi_config(tmp_path, cors=True)
    assert (config.upload, config.cors, config.reload) == (True, True, False)
    assert config.site["title"] == "T"


def test_app_reads_its_folder_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ROOT_VARIABLE, str(tmp_path))
    assert config_from_environment().root == tmp_path.resolve()
    monkeypatch.delenv(ROOT_VARIABLE)
    with pytest.raises(ConfigError, match=ROOT_VARIABLE):
        config_from_environment()


def test_a_real_site_through_the_adapter(tmp_path: Path) -> None:
    (tmp_path / "hello.txt").write_text("hello\n")
    (tmp_path / "page.html.jinja").write_text("{{ request.method }} {{ request.path }}")
    asgi = create_app(tmp_path, allowed_hosts=["example.test"])
    file_wire, page_wire, missing, stranger = Wire(), Wire(), Wire(), Wire()
    run(asgi(scope(raw_path=b"/hello.txt"), file_wire.receive, file_wire.send))
    run(asgi(scope(raw_path=b"/page"), page_wire.receive, page_wire.send))
    run(asgi(scope(raw_path=b"/nothing"), missing.receive, missing.send))
    assert (file_wire.status, file_wire.body) == (200, b"hello\n")
    assert file_wire.headers[b"x-content-type-options"] == b"nosniff"
    assert (page_wire.status, page_wire.body) == (200, b"GET /page")
    assert missing.status == 404
    # The host check is the built-in server's too: a name not given is refused.
    run(asgi(scope(headers=[(b"host", b"evil.test")]), stranger.receive, stranger.send))
    assert stranger.status == 403


def test_without_allowed_hosts_the_front_server_picks_the_names(tmp_path: Path) -> None:
    (tmp_path / "hello.txt").write_text("hello\n")
    wire = Wire()
    headers = [(b"host", b"www.example.com")]
    run(
        create_app(tmp_path)(
            scope(raw_path=b"/hello.txt", headers=headers), wire.receive, wire.send
        )
    )
    assert (wire.status, wire.body) == (200, b"hello\n")
