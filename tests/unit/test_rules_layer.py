"""RulesApp on its own: the header rules an answer gets are those that routed it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path

from siteserve.config import build_config
from siteserve.http.request import Request
from siteserve.http.response import Response
from siteserve.layers import App
from siteserve.rules.layer import RulesApp
from siteserve.site.app import Site
from tests.unit.page_support import make_request


class SlowPage(App):
    """An inner app whose answer comes when the test releases it."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    def handle(self, request: Request) -> Response | Awaitable[Response]:
        return self._later()

    async def _later(self) -> Response:
        await self.release.wait()
        return Response(200, [("Content-Type", "text/plain")], b"page")


def test_an_answer_finished_after_the_rules_reload_keeps_the_rules_that_routed_it(
    tmp_path: Path,
) -> None:
    headers_file = tmp_path / "_headers"
    headers_file.write_text("/*\n  X-Rule: first\n")
    config = build_config(tmp_path, reload=False)
    inner = SlowPage()
    rules = RulesApp(inner, Site(config), config)

    async def scenario() -> Response:
        answer = rules.handle(make_request("/slow"))
        assert not isinstance(answer, Response)
        pending = asyncio.ensure_future(answer)
        await asyncio.sleep(0)  # the page is now rendering
        headers_file.write_text("/*\n  X-Rule: second\n")
        rules.invalidate([headers_file])
        inner.release.set()
        return await pending

    response = asyncio.run(scenario())
    assert response.header("x-rule") == "first"
    # ...and the next request gets the new set.
    inner.release.set()
    after = asyncio.run(_answer(rules))
    assert after.header("x-rule") == "second"


async def _answer(rules: RulesApp) -> Response:
    answer = rules.handle(make_request("/slow"))
    return answer if isinstance(answer, Response) else await answer
