"""Share links, per-user rights and the slowdown of guessers, without sockets."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import re
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path

import pytest
import segno

from siteserve.config import ConfigError, build_config, parse_duration
from siteserve.console import Console
from siteserve.http.headers import Headers
from siteserve.http.request import Request
from siteserve.http.response import Response
from siteserve.layers import App
from siteserve.share import links
from siteserve.share.auth import AuthApp, Authenticator, access_layer
from siteserve.share.banner import share_notes
from siteserve.share.credentials import load_credentials, parse_credential
from siteserve.share.links import ShareLink, clean_location, split_token
from siteserve.share.slowdown import FailureDelays

LAN = ("192.0.2.10", 50000)
OTHER = ("192.0.2.11", 50001)


class Clock:
    """A clock a test moves by hand."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Inner(App):
    def __init__(self) -> None:
        self.seen: list[tuple[str, bool]] = []

    def handle(self, request: Request) -> Response:
        self.seen.append((request.target, request.read_only))
        return Response(200, [("Content-Type", "text/plain")], b"inner")

    def body_limit(self, request: Request) -> int | None:
        return 999


def request(
    target: str = "/",
    *,
    client: tuple[str, int] | None = LAN,
    scheme: str = "http",
    method: str = "GET",
    **headers: str,
) -> Request:
    path, _, query = target.partition("?")
    return Request(
        method, target, path, query, Headers(headers.items()), client=client, scheme=scheme
    )


def answered(result: Response | Awaitable[Response]) -> Response:
    assert isinstance(result, Response), "answered at once, without a wait"
    return result


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def cookie_of(response: Response) -> str:
    set_cookie = response.header("set-cookie")
    assert set_cookie is not None
    return set_cookie.partition(";")[0]


# -- rights of users ---------------------------------------------------------------------


def test_rights_follow_the_password_and_default_to_read_write() -> None:
    digest = hashlib.sha256(b"pw").hexdigest()
    assert parse_credential("ann:pw").rights == "rw"
    assert parse_credential("ann:pw:rw").rights == "rw"
    reader = parse_credential("bob:pw:ro")
    assert (reader.rights, reader.password_digest) == ("ro", hashlib.sha256(b"pw").digest())
    assert reader.spec == f"bob:sha256:{digest}:ro"
    assert parse_credential(reader.spec) == reader  # the normalised form reads back
    hashed = parse_credential(f"cy:sha256:{digest}:ro")
    assert (hashed.rights, hashed.password_digest) == ("ro", reader.password_digest)
    # Only a final :ro/:rw is rights: colons inside a password stay in it.
    assert parse_credential("ann:pa:ss").password_digest == hashlib.sha256(b"pa:ss").digest()
    ends_in_ro = parse_credential("ann:pw:ro:rw")
    assert ends_in_ro.rights == "rw"
    assert ends_in_ro.password_digest == hashlib.sha256(b"pw:ro").digest()


def test_auth_file_lines_carry_rights(tmp_path: Path) -> None:
    users = tmp_path / "users"
    users.write_text("ann:one\nbob:two:ro\n")
    check = Authenticator(load_credentials((), users))
    assert check.rights(basic("ann", "one")) == "rw"
    assert check.rights(basic("bob", "two")) == "ro"
    assert check.rights(basic("bob", "one")) is None
    assert check.rights(basic("bob", "two:ro")) is None


def test_read_only_users_are_marked_on_the_request() -> None:
    inner = Inner()
    app = AuthApp(inner, load_credentials(("ann:one", "bob:two:ro"), None))
    answered(app.handle(request("/a", authorization=basic("ann", "one"))))
    answered(app.handle(request("/b", authorization=basic("bob", "two"))))
    assert inner.seen == [("/a", False), ("/b", True)]
    # The mark is there when the body bound is asked too, before the body is read.
    head = request("/up", method="POST", authorization=basic("bob", "two"))
    assert app.body_limit(head) == 999 and head.read_only


# -- the link --------------------------------------------------------------------------


def test_a_link_has_128_random_bits_and_a_cookie_of_its_own() -> None:
    first, second = ShareLink.new("rw"), ShareLink.new("rw")
    assert first.token != second.token
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", first.token)  # 16 bytes, base64url
    assert first.cookie_name != second.cookie_name  # two servers on one host: two cookies
    assert first.cookie_name.startswith("siteserve_link_")
    assert first.token not in first.cookie_value and first.cookie_value != second.cookie_value
    assert first.url("http://192.0.2.4:8000/") == f"http://192.0.2.4:8000/?token={first.token}"


def test_token_and_cookie_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = links.hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(links.hmac, "compare_digest", recording)
    link = ShareLink.new("ro")
    assert link.token_matches(link.token) and not link.token_matches("x" * 22)
    assert link.cookie_matches(link.cookie_value) and not link.cookie_matches("")
    assert len(compared) == 4


def test_split_token_and_the_clean_location() -> None:
    assert split_token("a=1&b=2") == ([], "a=1&b=2")
    assert split_token("token=T") == (["T"], "")
    assert split_token("sort=size&token=T&q=caf%C3%A9") == (["T"], "sort=size&q=caf%C3%A9")
    assert split_token("token=A&token=B") == (["A", "B"], "")
    assert clean_location("/photos/", "sort=size") == "/photos/?sort=size"
    assert clean_location("/", "") == "/"
    # Never to another host: "//evil.example/" and "/\\evil.example" keep one slash.
    assert clean_location("//evil.example/", "") == "/evil.example/"
    assert clean_location("/\\evil.example", "") == "/evil.example"


def test_token_sets_the_cookie_and_redirects_to_the_clean_url() -> None:
    inner = Inner()
    link = ShareLink.new("rw")
    app = AuthApp(inner, link=link)
    first = answered(app.handle(request(f"/photos/?sort=size&token={link.token}")))
    assert first.status == 303
    assert first.header("location") == "/photos/?sort=size"
    assert first.header("cache-control") == "no-store"
    assert first.header("referrer-policy") == "no-referrer"
    set_cookie = first.header("set-cookie")
    assert set_cookie is not None
    attributes = set_cookie.split("; ")
    assert attributes[0] == f"{link.cookie_name}={link.cookie_value}"
    assert {"Path=/", "HttpOnly", "SameSite=Lax"} <= set(attributes)
    assert "Secure" not in attributes and not any(a.startswith("Max-Age") for a in attributes)
    assert inner.seen == []  # the redirect is all the first visit gets
    # The browser follows with the cookie: in, with the path and query as they were.
    then = answered(app.handle(request("/photos/?sort=size", cookie=cookie_of(first))))
    assert then.body == b"inner" and inner.seen == [("/photos/?sort=size", False)]
    # Under TLS the cookie is Secure.
    secure = answered(app.handle(request(f"/?token={link.token}", scheme="https")))
    assert "Secure" in (secure.header("set-cookie") or "").split("; ")


def test_without_the_link_a_page_that_says_to_scan_the_code() -> None:
    inner = Inner()
    link = ShareLink.new("rw")
    app = AuthApp(inner, link=link)
    for refused in (
        request("/"),
        request("/?token=wrong"),
        request("/", cookie=f"{link.cookie_name}=wrong"),
        request("/", cookie=f"siteserve_link_00000000={link.cookie_value}"),  # another's name
    ):
        response = answered(app.handle(refused))
        assert response.status == 401
        assert response.header("content-type") == "text/html; charset=utf-8"
        assert response.header("x-content-type-options") == "nosniff"
        assert response.header("cache-control") == "no-store"
        assert response.header("www-authenticate") == links.CHALLENGE
        assert isinstance(response.body, bytes) and b"Scan its QR code" in response.body
    assert inner.seen == []
    health = answered(app.handle(request("/__siteserve/health")))
    assert health.status == 200  # exempt, as with passwords
    assert app.body_limit(request("/", method="POST")) is None  # strangers: max_body


def test_passwords_and_a_link_together() -> None:
    inner = Inner()
    link = ShareLink.new("ro")
    app = AuthApp(inner, load_credentials(("ann:one",), None), link=link)
    refused = answered(app.handle(request("/")))
    challenges = [value for name, value in refused.headers if name == "WWW-Authenticate"]
    assert challenges == ['Basic realm="siteserve", charset="UTF-8"', links.CHALLENGE]
    answered(app.handle(request("/a", authorization=basic("ann", "one"))))
    cookie = f"{link.cookie_name}={link.cookie_value}"
    answered(app.handle(request("/b", cookie=cookie)))
    # A read-write user who also holds the read-only link keeps the larger rights.
    answered(app.handle(request("/c", cookie=cookie, authorization=basic("ann", "one"))))
    # Someone let in keeps a "token" of the site's own: no redirect, passed on untouched.
    answered(app.handle(request("/d?token=mine", cookie=cookie)))
    assert inner.seen == [("/a", False), ("/b", True), ("/c", False), ("/d?token=mine", True)]


def test_a_read_only_link_marks_its_requests() -> None:
    inner = Inner()
    link = ShareLink.new("ro")
    app = AuthApp(inner, link=link)
    head = request("/up/", method="POST", cookie=f"{link.cookie_name}={link.cookie_value}")
    assert app.body_limit(head) == 999 and head.read_only
    answered(app.handle(head))
    assert inner.seen == [("/up/", True)]
    # The token's own visit is only a redirect: it never gets a larger body bound.
    assert app.body_limit(request(f"/?token={link.token}", method="POST")) is None


def test_expiry_ends_the_link_and_its_cookies() -> None:
    clock = Clock()
    link = ShareLink.new("rw", lifetime=1800, clock=clock)
    app = AuthApp(Inner(), link=link)
    first = answered(app.handle(request(f"/?token={link.token}")))
    assert "Max-Age=1800" in (first.header("set-cookie") or "")
    clock.now += 600
    later = answered(app.handle(request(f"/?token={link.token}")))
    assert "Max-Age=1200" in (later.header("set-cookie") or "")  # the cookie ends with the link
    cookie = cookie_of(first)
    assert answered(app.handle(request("/", cookie=cookie))).status == 200
    clock.now += 1200  # the link's end
    for after in (request("/", cookie=cookie), request(f"/?token={link.token}")):
        ended = answered(app.handle(after))
        assert ended.status == 401
        assert isinstance(ended.body, bytes) and b"share link has ended" in ended.body
    assert link.expired()
    # The ended link's own cookie and token are no guesses: reloading is not slowed down.
    assert app.delays.failures(LAN[0]) == 0
    answered(app.handle(request("/", cookie=f"{link.cookie_name}=forged")))
    assert app.delays.failures(LAN[0]) == 1


def test_the_end_in_local_time() -> None:
    clock = Clock()
    assert ShareLink.new("rw", clock=clock).ends_text() is None
    soon = ShareLink.new("rw", lifetime=60, clock=clock)
    text = soon.ends_text()
    assert text is not None and re.fullmatch(r"\d\d:\d\d|\w{3} \d{1,2} \w{3} \d\d:\d\d", text)
    far = ShareLink.new("rw", lifetime=3 * 86400, clock=clock)
    assert re.fullmatch(r"\w{3} \d{1,2} \w{3} \d\d:\d\d", far.ends_text() or "")


def test_the_access_layer_is_found_in_the_stack(tmp_path: Path) -> None:
    from siteserve.assemble import build_app

    plain = build_app(build_config(tmp_path, reload=False))
    assert access_layer(plain) is None
    shared = build_app(build_config(tmp_path, reload=False, share_link="ro", expire="30m"))
    layer = access_layer(shared)
    assert layer is not None and layer.link is not None and layer.link.rights == "ro"
    assert layer.link.expires_at is not None


# -- options --------------------------------------------------------------------------


def test_share_makes_a_read_write_link_unless_told_otherwise(tmp_path: Path) -> None:
    assert build_config(tmp_path).share_link == "off"
    assert build_config(tmp_path, share=True).share_link == "rw"
    assert build_config(tmp_path, share=True, share_link="ro").share_link == "ro"
    assert build_config(tmp_path, share=True, share_link="off").share_link == "off"
    alone = build_config(tmp_path, share_link="rw")  # without the other --share effects
    assert (alone.share_link, alone.host, alone.cache_seconds) == ("rw", "127.0.0.1", None)
    with pytest.raises(ConfigError, match="--share-link takes ro, rw or off, not 'site'"):
        build_config(tmp_path, share_link="site")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400), ("1.5h", 5400), (45, 45)],
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "0", "-5m", "2w", "1h30m", True])
def test_bad_durations(text: str | bool) -> None:
    with pytest.raises(ConfigError, match="duration"):
        parse_duration(text)


def test_expire_needs_a_link(tmp_path: Path) -> None:
    assert build_config(tmp_path, share=True, expire="30m").expire == 1800
    with pytest.raises(ConfigError, match="--expire ends a share link"):
        build_config(tmp_path, expire="30m")
    (tmp_path / "siteserve.toml").write_text('[server]\nshare-link = "ro"\nexpire = "2h"\n')
    config = build_config(tmp_path)
    assert (config.share_link, config.expire) == ("ro", 7200)


# -- slowing down guessers ----------------------------------------------------------------


def test_delays_grow_after_five_failures_up_to_a_cap() -> None:
    delays = FailureDelays(clock=Clock())
    waits = [delays.attempt("192.0.2.1", succeeded=False) for _ in range(12)]
    assert waits == [0, 0, 0, 0, 0, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 4.0]
    assert delays.failures("192.0.2.1") == 12
    assert delays.attempt("192.0.2.99", succeeded=True) == 0  # another address: no wait


def test_the_right_answer_waits_once_then_clears_the_address() -> None:
    delays = FailureDelays(clock=Clock())
    for _ in range(7):
        delays.attempt("192.0.2.1", succeeded=False)
    # A guesser cannot tell a right answer by its speed: it waits like a wrong one...
    assert delays.attempt("192.0.2.1", succeeded=True) == 0.4
    # ... and then the address is clean again.
    assert delays.failures("192.0.2.1") == 0
    assert delays.attempt("192.0.2.1", succeeded=True) == 0


def test_failures_decay_with_time() -> None:
    clock = Clock()
    delays = FailureDelays(clock=clock, decay=60)
    for _ in range(8):
        delays.attempt("192.0.2.1", succeeded=False)
    assert delays.failures("192.0.2.1") == 8
    clock.now += 120  # two failures forgotten
    assert delays.failures("192.0.2.1") == 6
    clock.now += 1  # a third on its way out still counts
    assert delays.failures("192.0.2.1") == 6
    clock.now += 3600
    assert delays.failures("192.0.2.1") == 0
    assert delays.attempt("192.0.2.1", succeeded=False) == 0


def test_a_flood_of_addresses_keeps_the_table_at_its_cap() -> None:
    delays = FailureDelays(clock=Clock(), capacity=4096)
    for _ in range(6):
        delays.attempt("198.51.100.1", succeeded=False)
    for number in range(20_000):
        delays.attempt(
            f"10.{number >> 16 & 255}.{number >> 8 & 255}.{number & 255}", succeeded=False
        )
        assert len(delays) <= 4096
    assert len(delays) == 4096
    # The oldest went first; the newest are kept.
    assert delays.failures("198.51.100.1") == 0
    assert delays.failures("10.0.78.31") == 1  # number 19999


def test_attempts_without_an_address_are_not_held_against_anyone() -> None:
    delays = FailureDelays(clock=Clock())
    assert all(delays.attempt(None, succeeded=False) == 0 for _ in range(20))
    assert len(delays) == 0


class Sleeps:
    """Records the waits AuthApp asks for instead of waiting."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)


def test_wrong_passwords_wait_and_the_right_one_elsewhere_does_not() -> None:
    sleeps = Sleeps()
    inner = Inner()
    app = AuthApp(
        inner,
        load_credentials(("ann:one",), None),
        delays=FailureDelays(base=0.001, clock=Clock()),
        sleep=sleeps,
    )
    wrong = basic("ann", "guess")
    for _ in range(5):
        assert answered(app.handle(request(authorization=wrong, client=LAN))).status == 401
    assert sleeps.asked == []
    # Bare requests (a browser's first, before it asks for a password) are not failures.
    for _ in range(10):
        answered(app.handle(request(client=OTHER)))
    # The sixth wrong one from LAN waits, before its 401; nothing else is held up.
    pending = app.handle(request(authorization=wrong, client=LAN))
    assert not isinstance(pending, Response)
    right_elsewhere = app.handle(request("/ok", authorization=basic("ann", "one"), client=OTHER))
    assert answered(right_elsewhere).body == b"inner"
    later = asyncio.run(_resolve(pending))
    assert later.status == 401
    assert sleeps.asked == [0.001]
    assert app.delays.failures(LAN[0]) == 6 and app.delays.failures(OTHER[0]) == 0
    # Wrong tokens count the same way.
    link_app = AuthApp(
        Inner(), link=ShareLink.new("rw"), delays=FailureDelays(clock=Clock()), sleep=sleeps
    )
    for _ in range(5):
        answered(link_app.handle(request("/?token=guess", client=LAN)))
    slowed = asyncio.run(_resolve(link_app.handle(request("/?token=guess", client=LAN))))
    assert slowed.status == 401 and sleeps.asked == [0.001, 0.1]


async def _resolve(pending: Response | Awaitable[Response]) -> Response:
    assert not isinstance(pending, Response)
    return await pending


# -- the banner --------------------------------------------------------------------------


@dataclass(frozen=True)
class Address:
    host: str
    port: int = 8000
    requested_port: int = 8000
    scheme: str = "http"


def _banner(tmp_path: Path, host: str, link: ShareLink | None, **options: object) -> str:
    config = build_config(tmp_path, **options)
    out = io.StringIO()
    notes = share_notes(config, Address(host), lan=["192.168.1.4"], link=link)
    Console(out, color=False).banner(tmp_path, Address(host), lan=["192.168.1.4"], notes=notes)
    return out.getvalue()


def _read_qr(text: str) -> list[list[bool]]:
    """The QR modules the half-block lines of the banner draw (two rows a line)."""
    lines = text.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("  QR ")) + 1
    end = next(n for n, line in enumerate(lines) if "Press Ctrl-C" in line)
    rows: list[list[bool]] = []
    for line in lines[start:end]:
        rows.append([char in "█▀" for char in line[2:]])
        rows.append([char in "█▄" for char in line[2:]])
    return rows


def test_the_qr_code_holds_the_link_and_the_banner_says_until_when(tmp_path: Path) -> None:
    clock = Clock()
    link = ShareLink.new("ro", lifetime=1800, clock=clock)
    text = _banner(tmp_path, "0.0.0.0", link, share=True, qr=True, upload=True)
    url = f"http://192.168.1.4:8000/?token={link.token}"
    assert f"Link     {url}" in text
    assert f"read-only, until {link.ends_text()}; anyone with it can come in" in text
    assert f"QR       {url}" in text
    expected = [[bool(m) for m in row] for row in segno.make(url, error="m").matrix_iter(border=2)]
    assert _read_qr(text)[: len(expected)] == expected  # the code reads back as the link
    assert "ANYONE" not in text and "Anyone" not in text  # the link is the way in


def test_a_link_on_this_machine_only_and_read_only_users(tmp_path: Path) -> None:
    link = ShareLink.new("rw")
    text = _banner(tmp_path, "127.0.0.1", link, auth=("ann:one", "bob:two:ro"))
    assert f"Link     http://127.0.0.1:8000/?token={link.token}" in text
    assert "read-write, until the server stops" in text
    assert "password required (2 users, 1 read-only)" in text
    plain = _banner(tmp_path, "0.0.0.0", None, qr=True)
    assert "QR       http://192.168.1.4:8000/" in plain and "token" not in plain
