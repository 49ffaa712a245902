"""The static transfer path through the Site, without sockets: races and edge cases."""

from __future__ import annotations

import asyncio
import gzip
import os
from collections.abc import Awaitable
from pathlib import Path

from siteserve.config import build_config
from siteserve.http import Headers, Request, Response
from siteserve.site.app import Site

BIG = b"let answer = 42; // padding padding padding\n" * 3000  # ~130 KB, coded in a thread


def get(site: Site, path: str, **fields: str) -> Response | Awaitable[Response]:
    headers = Headers([("host", "x"), *((k.replace("_", "-"), v) for k, v in fields.items())])
    return site.handle(Request("GET", path, path, "", headers))


def answer(result: Response | Awaitable[Response]) -> Response:
    if isinstance(result, Response):
        return result

    async def wait() -> Response:
        return await result

    return asyncio.run(wait())


def make_site(tmp_path: Path) -> Site:
    (tmp_path / "big.js").write_bytes(BIG)
    return Site(build_config(tmp_path, port=0, reload=False))


def test_rfc9110_8_8_3_file_rewritten_while_being_compressed_answers_the_new_version(
    tmp_path: Path,
) -> None:
    site = make_site(tmp_path)
    pending = get(site, "/big.js", accept_encoding="gzip")
    assert not isinstance(pending, Response)  # large: compressed off the event loop
    changed = BIG + b"// one more line\n"
    (tmp_path / "big.js").write_bytes(changed)
    os.utime(tmp_path / "big.js", ns=(10**18, 10**18))
    response = answer(pending)
    assert response.status == 200
    assert isinstance(response.body, bytes)
    assert gzip.decompress(response.body) == changed
    # The tag describes the bytes that were sent, not the version first looked at.
    fresh = answer(get(site, "/big.js"))
    assert response.header("etag") == (fresh.header("etag") or "")[:-1] + '-gz"'


def test_file_deleted_while_being_compressed_answers_404(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    pending = get(site, "/big.js", accept_encoding="br")
    assert not isinstance(pending, Response)
    (tmp_path / "big.js").unlink()
    assert answer(pending).status == 404


def test_rfc9110_8_4_second_request_is_answered_from_the_cache_synchronously(
    tmp_path: Path,
) -> None:
    site = make_site(tmp_path)
    first = answer(get(site, "/big.js", accept_encoding="gzip"))
    second = get(site, "/big.js", accept_encoding="gzip")
    assert isinstance(second, Response)
    assert second.body == first.body
    assert second.header("content-encoding") == "gzip"


def test_rfc9110_15_4_5_304_from_a_coded_tag_needs_no_compression(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    identity = answer(get(site, "/big.js"))
    coded_tag = (identity.header("etag") or "")[:-1] + '-br"'
    response = get(site, "/big.js", accept_encoding="br", if_none_match=coded_tag)
    assert isinstance(response, Response)  # no compression was needed to answer
    assert response.status == 304
    assert response.header("etag") == coded_tag
    assert response.header("vary") == "Accept-Encoding"
    assert response.header("content-encoding") is None
