"""``RulesApp``: the site's redirect, rewrite and header rules, applied in front of the site.

Redirects are answered here; a 200 rule (a rewrite) and a 404 rule ask the site
for the destination as if it had been requested, so the resolver's rules still
hold (no dotfile, no ``_`` file, nothing outside the root is ever reached). A
rule that is not forced (``!``) gives way to a file, page or route at its path,
as on Netlify. Header rules go on every answer whose URL they match, on top of
the site's own; ``X-Content-Type-Options`` and the framing headers stay ours.
The rule files are read again when one of them changes (``invalidate``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from siteserve.config import Config
from siteserve.http.request import Request
from siteserve.http.response import Response
from siteserve.layers import App, Layer
from siteserve.rules.load import RULE_FILES, load_rules, summary
from siteserve.rules.model import HeaderRule, RedirectRule, RuleSet, fill, is_absolute
from siteserve.site import cache_policy
from siteserve.site.app import Site

log = logging.getLogger("siteserve.rules")


class RulesApp(Layer[App]):
    def __init__(self, inner: App, site: Site, config: Config) -> None:
        super().__init__(inner)
        self.site = site
        self.config = config
        self.rules: RuleSet = load_rules(config)

    # -- App protocol ------------------------------------------------------------------

    async def startup(self) -> None:
        for line in summary(self.rules, self.config):
            log.warning("%s", line)
        await self.inner.startup()

    def invalidate(self, paths: Iterable[Path]) -> None:
        paths = list(paths)
        names = {self.config.root / name for name in RULE_FILES}
        if any(path in names or path == self.config.root for path in paths):
            self.rules = load_rules(self.config)
            for line in summary(self.rules, self.config):
                log.warning("%s", line)
        self.inner.invalidate(paths)

    def reusable_answers(self) -> bool:
        # Header rules depend on the URL only. A redirect or rewrite that gives way to a
        # file, and serve.json's switches, look at what exists now: asked every time.
        rules = self.rules
        switches = rules.clean_urls or rules.trailing_slash is not None
        if rules.redirects or rules.hidden or switches or not rules.directory_listing:
            return False
        return self.inner.reusable_answers()

    def handle(self, request: Request) -> Response | Awaitable[Response]:
        rules = self.rules
        if not (rules.redirects or rules.headers or rules.hidden):
            return self.inner.handle(request)
        answer = self._route(request, rules)
        if not rules.headers:
            return answer
        # The header rules of the snapshot that routed this request: a rules file
        # reloaded while a page renders must not give it another set's headers.
        if isinstance(answer, Response):
            return _with_headers(rules.headers, request.path, answer)
        return _headers_later(rules.headers, request.path, answer)

    # -- redirects and rewrites ---------------------------------------------------------

    def _route(self, request: Request, rules: RuleSet) -> Response | Awaitable[Response]:
        path = request.path
        if path.lstrip("/") in rules.hidden:
            return self.site.error(request, 404)  # serve.json holds rules, not content
        switched = self._switches(request, rules)
        if switched is not None:
            return switched
        for rule in rules.redirects:
            values = rule.match(path, request.query)
            if values is None or (not rule.force and self._exists(path)):
                continue
            return self._apply(request, rule, values)
        return self.inner.handle(request)

    def _exists(self, path: str) -> bool:
        return self.site.resolver.resolve(path).kind != "not_found"

    def _apply(
        self, request: Request, rule: RedirectRule, values: dict[str, str]
    ) -> Response | Awaitable[Response]:
        location = fill(rule.to, values)
        if not is_absolute(location):
            # A splat may hold "//host": only an author's absolute URL leaves the site.
            location = "/" + location.lstrip("/\\")
        if "?" not in location and request.query and not rule.query:
            location += "?" + request.query
        if rule.status in (200, 404):
            target_path, _, query = location.partition("?")
            rewritten = replace(request, path=target_path, query=query, target=location)
            if rule.status == 200:
                return self.inner.handle(rewritten)
            return _as_not_found(self.inner.handle(rewritten))
        return redirect(rule.status, location, self.config)

    def _switches(self, request: Request, rules: RuleSet) -> Response | Awaitable[Response] | None:
        """serve.json's cleanUrls, trailingSlash and directoryListing."""
        if request.method not in ("GET", "HEAD"):
            return None
        path, query = request.path, ("?" + request.query if request.query else "")
        if rules.clean_urls and path.endswith(".html"):
            clean = path[: -len(".html")]
            if clean.endswith("/index"):
                clean = clean[: -len("index")]
            return redirect(301, (clean or "/") + query, self.config)
        if rules.trailing_slash is True and not path.endswith("/"):
            last = path.rpartition("/")[2]
            if "." not in last and self._exists(path + "/"):
                return redirect(301, path + "/" + query, self.config)
        if rules.trailing_slash is False and path.endswith("/") and path != "/":
            bare = path.rstrip("/")
            if self.site.resolver.resolve(bare).kind in ("file", "page"):
                return redirect(301, bare + query, self.config)
        if not rules.directory_listing and self.site.resolver.resolve(path).kind == "directory":
            return self.site.error(request, 404)
        return None

    # -- headers -----------------------------------------------------------------------


def _with_headers(header_rules: Sequence[HeaderRule], path: str, response: Response) -> Response:
    chosen: dict[str, tuple[str, list[str]]] = {}
    removed: set[str] = set()
    for rule in header_rules:
        values = rule.source.match(path)
        if values is None:
            continue
        for name in rule.remove:
            removed.add(name.lower())
            chosen.pop(name.lower(), None)
        for name, value in rule.headers:
            entry = chosen.setdefault(name.lower(), (name, []))
            entry[1].append(fill(value, values))
            removed.discard(name.lower())
    if not chosen and not removed:
        return response
    kept = [
        (name, value)
        for name, value in response.headers
        if name.lower() not in chosen and name.lower() not in removed
    ]
    kept += [(name, ", ".join(values)) for name, values in chosen.values()]
    return replace(response, headers=kept)


async def _headers_later(
    header_rules: Sequence[HeaderRule], path: str, answer: Awaitable[Response]
) -> Response:
    return _with_headers(header_rules, path, await answer)


def redirect(status: int, location: str, config: Config) -> Response:
    headers = [
        ("Location", location),
        ("Cache-Control", cache_policy.profile(config)),
        ("X-Content-Type-Options", "nosniff"),
    ]
    return Response(status, headers, b"")


def _as_not_found(answer: Response | Awaitable[Response]) -> Response | Awaitable[Response]:
    if isinstance(answer, Response):
        return replace(answer, status=404)

    async def later() -> Response:
        return replace(await answer, status=404)

    return later()
