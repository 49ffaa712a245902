"""The soak's clients: asyncio tasks on raw sockets, every one bounded by the run's deadline.

- file clients (keep-alive): small, medium, large and edited files, some by Range
  (one range or three), some gzip or br, some revalidating, some random 404 URLs;
- zip downloads abandoned at a random point (the connection reset);
- multipart uploads, a third cut off half way; each whole one is read back from disk;
- reload WebSocket clients that say hello, listen a while, leave and come back;
- slow readers of a large file; malformed requests;
- the probe: a small file every 50 ms on its own connection, timed, in a process
  of its own (``probe_process``).

Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import socket
import struct
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing import Queue
from pathlib import Path

from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Message, TextMessage
from wsproto.events import Request as WsRequest
from wsproto.utilities import RemoteProtocolError as WsProtocolError

from bench.soak_site import Answer, Editor, Site, Verdicts, check_edited, check_fixed

LOCALHOST = "127.0.0.1"
MIB = 1024 * 1024
READ_TIMEOUT = 30.0
BOUNDARY = "soakboundary5e1"


class CutShort(Exception):
    """The server closed the connection before the body it promised was complete."""


@dataclass
class Load:
    """What every task shares: where to go, until when, and what was seen."""

    port: int
    site: Site
    editor: Editor
    deadline: float
    #: Requests per second each file client sends at most (0: as fast as answers come).
    client_rate: float = 0.0
    #: Leave each checked upload on disk (else it is deleted at once: a change too).
    keep_uploads: bool = False
    verdicts: Verdicts = field(default_factory=Verdicts)
    requests: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    reloads_heard: int = 0

    @property
    def host(self) -> str:
        return f"{LOCALHOST}:{self.port}"

    def running(self) -> bool:
        return time.monotonic() < self.deadline


async def read_answer(reader: asyncio.StreamReader, method: str = "GET") -> Answer:
    """One response (TimeoutError after READ_TIMEOUT seconds without it)."""
    return await asyncio.wait_for(_read_answer(reader, method), READ_TIMEOUT)


async def _read_answer(reader: asyncio.StreamReader, method: str) -> Answer:
    """One response: its head, then a body framed by Content-Length or chunked (or EOF)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as error:
        raise ConnectionResetError("closed before a response head") from error
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if method == "HEAD" or status in (204, 304) or status < 200:
        return Answer(status, headers, b"")
    try:
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding") == "chunked":
            chunks = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")
                    break
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)
            body = b"".join(chunks)
        else:
            body = await reader.read()
    except asyncio.IncompleteReadError as error:
        raise CutShort from error
    return Answer(status, headers, body)


async def connect(load: Load) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(asyncio.open_connection(LOCALHOST, load.port), READ_TIMEOUT)


def reset(writer: asyncio.StreamWriter) -> None:
    """Close abruptly (RST), as a cancelled download or a closed tab does."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def forever(load: Load, name: str, step: Callable[[], Awaitable[None]]) -> None:
    """Run ``step`` until the deadline; a failed connection is counted and retried.

    Every wait inside a step is bounded (READ_TIMEOUT), so the run ends on time.
    """
    while load.running():
        try:
            await step()
        except (OSError, asyncio.IncompleteReadError, CutShort) as error:
            load.requests[f"{name}: {type(error).__name__}"] += 1
        except TimeoutError:
            load.requests[f"{name}: timed out"] += 1


# -- file clients ------------------------------------------------------------------------


def _choose(
    load: Load, rng: random.Random, tags: dict[str, str]
) -> tuple[str, str, dict[str, str]]:
    """(kind, URL, extra headers) for the next request of a file client."""
    site = load.site
    roll = rng.random()
    if roll < 0.05:
        return "404", f"/nope/{rng.getrandbits(48):x}", {}
    if roll < 0.30:
        url = rng.choice(list(site.edited))
        size = site.edited[url]
        choice = rng.random()
        if choice < 0.3 and size > 64 * 1024:
            start = rng.randrange(0, size - 100)
            # At least 32 bytes: a whole 16-byte record, which names the version.
            return "edited", url, {"range": f"bytes={start}-{start + rng.randrange(31, 200_000)}"}
        if choice < 0.4 and size > 64 * 1024:
            return "edited", url, {"range": "bytes=0-99,5000-5999,300000-"}
        if choice < 0.7 and url.endswith(".txt"):
            return "edited", url, {"accept-encoding": rng.choice(["gzip", "br"])}
        return "edited", url, {}
    names = [url for url in site.fixed if url.startswith("/files/")]
    url = rng.choice(names)
    headers: dict[str, str] = {}
    data = site.fixed[url]
    if url.endswith(".bin"):
        if rng.random() < 0.5:
            start = rng.randrange(0, len(data) - 1)
            headers["range"] = f"bytes={start}-{min(len(data) - 1, start + rng.randrange(1, MIB))}"
        elif rng.random() < 0.2:
            headers["range"] = "bytes=0-9,100000-199999,-500"
    elif rng.random() < 0.5:
        headers["accept-encoding"] = rng.choice(["gzip", "br", "gzip, br"])
    if url in tags and rng.random() < 0.15:
        headers["if-none-match"] = tags[url]
    return "fixed", url, headers


async def file_client(load: Load, number: int) -> None:
    rng = random.Random(number)
    tags: dict[str, str] = {}

    async def connection() -> None:
        reader, writer = await connect(load)
        try:
            for _ in range(rng.randint(50, 2000)):
                if not load.running():
                    return
                if load.client_rate:
                    await asyncio.sleep(rng.expovariate(load.client_rate))
                kind, url, headers = _choose(load, rng, tags)
                lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
                writer.write(f"GET {url} HTTP/1.1\r\nHost: {load.host}\r\n{lines}\r\n".encode())
                try:
                    answer = await read_answer(reader)
                except TimeoutError:
                    load.verdicts.note(url, f"no answer in {READ_TIMEOUT:g} s to {headers}")
                    return
                except CutShort:
                    if kind == "edited":
                        load.verdicts.counts["cut short (changed while sent)"] += 1
                    else:
                        load.verdicts.wrong(url, "cut short, the file never changes")
                    return
                load.requests[kind] += 1
                load.statuses[answer.status] += 1
                if kind == "fixed":
                    check_fixed(load.verdicts, url, load.site.fixed[url], answer)
                    if "etag" in answer.headers and "range" not in headers:
                        tags[url] = answer.headers["etag"]
                elif kind == "edited":
                    check_edited(load.verdicts, url, load.site.edited[url], answer)
                elif answer.status != 404:
                    load.verdicts.wrong(url, f"status {answer.status} for a missing file")
                if answer.headers.get("connection") == "close":
                    return
        finally:
            writer.close()

    await forever(load, "file client", connection)


# -- abandoned zips, slow readers --------------------------------------------------------


async def zip_aborter(load: Load, number: int) -> None:
    rng = random.Random(1000 + number)

    async def once() -> None:
        reader, writer = await connect(load)
        try:
            target = f"{load.site.zip_folder}?download=zip"
            writer.write(f"GET {target} HTTP/1.1\r\nHost: {load.host}\r\n\r\n".encode())
            wanted = rng.randrange(0, 3 * MIB)
            got = 0
            while got < wanted:
                data = await asyncio.wait_for(reader.read(65536), READ_TIMEOUT)
                if not data:
                    break
                got += len(data)
            load.requests["zip abandoned"] += 1
        finally:
            reset(writer)
        await asyncio.sleep(rng.uniform(0.1, 0.5))

    await forever(load, "zip", once)


async def slow_reader(load: Load, number: int) -> None:
    rng = random.Random(2000 + number)

    async def once() -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        sock.setblocking(False)
        connecting = asyncio.get_running_loop().sock_connect(sock, (LOCALHOST, load.port))
        await asyncio.wait_for(connecting, READ_TIMEOUT)
        reader, writer = await asyncio.open_connection(sock=sock)
        try:
            url = rng.choice([url for url in load.site.fixed if url.endswith(".bin")])
            writer.write(f"GET {url} HTTP/1.1\r\nHost: {load.host}\r\n\r\n".encode())
            until = time.monotonic() + rng.uniform(1, 6)
            while time.monotonic() < until and load.running():
                if not await asyncio.wait_for(reader.read(8192), READ_TIMEOUT):
                    break
                await asyncio.sleep(0.05)
            load.requests["slow reader"] += 1
        finally:
            reset(writer)

    await forever(load, "slow reader", once)


# -- uploads -------------------------------------------------------------------------------


async def uploader(load: Load, number: int) -> None:
    rng = random.Random(3000 + number)
    folder = load.site.root / load.site.uploads.strip("/")

    async def once() -> None:
        count = load.requests["upload sent"]
        name = f"up-{number}-{count}.bin"
        data = rng.randbytes(rng.randrange(64 * 1024, 2 * MIB))
        head = (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        tail = f"\r\n--{BOUNDARY}--\r\n".encode()
        body = head + data + tail
        cut = rng.random() < 1 / 3
        reader, writer = await connect(load)
        try:
            writer.write(
                (
                    f"POST {load.site.uploads} HTTP/1.1\r\nHost: {load.host}\r\n"
                    "Accept: application/json\r\n"
                    f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n"
                ).encode()
            )
            load.requests["upload sent"] += 1
            sent_until = rng.randrange(len(head), len(body) - 1) if cut else len(body)
            for start in range(0, sent_until, 64 * 1024):
                writer.write(body[start : min(sent_until, start + 64 * 1024)])
                await asyncio.wait_for(writer.drain(), READ_TIMEOUT)
                await asyncio.sleep(0.005)  # a few MB/s, as over a LAN
            if cut:
                load.requests["upload cut off"] += 1
                return
            answer = await read_answer(reader)
            load.statuses[answer.status] += 1
            if answer.status != 201:
                load.verdicts.wrong(load.site.uploads, f"upload answered {answer.status}")
                return
            created = json.loads(answer.body)["created"]
            placed = folder / Path(created[0]["name"]).name if created else None
            if placed is None or placed.read_bytes() != data:
                load.verdicts.wrong(load.site.uploads, f"upload {name} not on disk as sent")
            else:
                load.requests["upload kept"] += 1
                if not load.keep_uploads:
                    placed.unlink()  # the soak's own file: keep the disk bounded
        finally:
            if cut:
                reset(writer)
            else:
                writer.close()
        await asyncio.sleep(rng.uniform(0.1, 0.4))

    await forever(load, "upload", once)


# -- reload clients --------------------------------------------------------------------


async def reload_client(load: Load, number: int) -> None:
    rng = random.Random(4000 + number)

    async def once() -> None:
        # As reload.js does: the socket's token first, from the page's own origin.
        reader, writer = await connect(load)
        try:
            writer.write(
                f"GET /__siteserve/ws-token HTTP/1.1\r\nHost: {load.host}\r\n"
                f"Origin: http://{load.host}\r\nConnection: close\r\n\r\n".encode()
            )
            answer = await read_answer(reader)
        finally:
            writer.close()
        if answer.status != 200:
            load.verdicts.note("/__siteserve/ws-token", f"answered {answer.status}")
            await asyncio.sleep(1)
            return
        token = json.loads(answer.body)["token"]
        reader, writer = await connect(load)
        ws = WSConnection(ConnectionType.CLIENT)
        try:
            origin = (b"origin", f"http://{load.host}".encode())
            target = f"/__siteserve/ws?socket_token={token}"
            opening = WsRequest(host=load.host, target=target, extra_headers=[origin])
            writer.write(ws.send(opening))
            accepted = False
            stay = time.monotonic() + rng.uniform(1, 10)
            while time.monotonic() < stay and load.running():
                try:
                    data = await asyncio.wait_for(reader.read(65536), 1.0)
                except TimeoutError:
                    continue
                if not data:
                    return
                try:
                    ws.receive_data(data)
                    events = list(ws.events())
                except WsProtocolError as error:  # refused: not a 101
                    load.verdicts.note("/__siteserve/ws", f"handshake refused: {error}")
                    await asyncio.sleep(1)
                    return
                for event in events:
                    if isinstance(event, AcceptConnection):
                        accepted = True
                        hello = {"type": "hello", "page": "/", "scripts": []}
                        writer.write(ws.send(Message(data=json.dumps(hello))))
                    elif isinstance(event, TextMessage):
                        load.reloads_heard += 1
                    elif isinstance(event, CloseConnection):
                        return
            if accepted:
                load.requests["reload socket"] += 1
                if rng.random() < 0.5:
                    writer.write(ws.send(CloseConnection(code=1001)))
        finally:
            if rng.random() < 0.5:
                reset(writer)
            else:
                writer.close()

    await forever(load, "reload socket", once)


# -- malformed requests ------------------------------------------------------------------

MALFORMED = (
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: HOST\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
    b"GET /\x00 HTTP/1.1\r\nHost: HOST\r\n\r\n",
    b"POST /uploads/ HTTP/1.1\r\nHost: HOST\r\nContent-Length: 10\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: HOST\r\nContent-Length: -5\r\n\r\n",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    b"GET /../../etc/passwd HTTP/1.1\r\nHost: HOST\r\n\r\n",
    b"POST /uploads/ HTTP/1.1\r\nHost: HOST\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n",
    b"GET / HTTP/1.1\r\nHost: HOST\r\nno colon here\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: HOST\r\n",  # a head that never ends
)


async def malformed_client(load: Load, number: int) -> None:
    rng = random.Random(5000 + number)

    async def once() -> None:
        reader, writer = await connect(load)
        try:
            writer.write(rng.choice(MALFORMED).replace(b"HOST", load.host.encode()))
            with contextlib.suppress(ConnectionResetError, CutShort, TimeoutError):
                answer = await asyncio.wait_for(read_answer(reader), 2.0)
                load.statuses[answer.status] += 1
                # 505 is the answer to an HTTP/2 preface; any other 5xx is a server error.
                if answer.status >= 500 and answer.status != 505:
                    load.verdicts.wrong("malformed", f"answered {answer.status}")
            load.requests["malformed"] += 1
        finally:
            reset(writer)
        await asyncio.sleep(0.1)

    await forever(load, "malformed", once)


# -- the probe ---------------------------------------------------------------------------


def ahead_of_the_load() -> None:
    """Run the probe ahead of the load generator that shares its CPU (SCHED_FIFO, Linux).

    The load's process keeps its CPU busy; a probe woken by the server's answer would
    otherwise wait for its turn there, and its clock would time the load generator, not
    the server. The probe sleeps almost all the time, so it takes nothing from the load.
    Without the privilege (root or CAP_SYS_NICE) it runs as it is.
    """
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))


def probe_process(
    port: int, path: str, expected: bytes, until: float, interval: float, out: Queue[list[float]]
) -> None:
    """A small file every ``interval`` seconds on one keep-alive connection, timed.

    Runs in a process of its own, so the load's own event loop never delays the
    clock; latencies go to ``out`` in batches (a negative one: a wrong answer).
    """
    request = f"GET {path} HTTP/1.1\r\nHost: {LOCALHOST}:{port}\r\n\r\n".encode()
    ahead_of_the_load()
    batch: list[float] = []
    sent_at = time.monotonic()
    sock: socket.socket | None = None
    while time.time() < until:
        cycle = time.perf_counter()
        try:
            if sock is None:
                sock = socket.create_connection((LOCALHOST, port), timeout=READ_TIMEOUT)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            started = time.perf_counter()
            sock.sendall(request)
            data = b""
            while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < len(expected):
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionResetError("closed")
                data += chunk
            took = time.perf_counter() - started
            batch.append(took if data.endswith(expected) else -took)
        except OSError:
            if sock is not None:
                sock.close()
            sock = None
        now = time.monotonic()
        if now - sent_at > 0.5:
            out.put(batch)
            batch = []
            sent_at = now
        time.sleep(max(0.0, interval - (time.perf_counter() - cycle)))
    out.put(batch)
    if sock is not None:
        sock.close()


@dataclass(frozen=True)
class Mix:
    """How many of each client run at once."""

    file_clients: int = 40
    reload_clients: int = 20
    zip_aborters: int = 2
    uploaders: int = 2
    slow_readers: int = 3
    malformed: int = 1


def start_all(load: Load, mix: Mix) -> list[asyncio.Task[None]]:
    spawn = asyncio.get_running_loop().create_task
    tasks: list[asyncio.Task[None]] = []
    for count, client in (
        (mix.file_clients, file_client),
        (mix.reload_clients, reload_client),
        (mix.zip_aborters, zip_aborter),
        (mix.uploaders, uploader),
        (mix.slow_readers, slow_reader),
        (mix.malformed, malformed_client),
    ):
        tasks.extend(spawn(client(load, number)) for number in range(count))
    return tasks
