"""In Chromium: pages of other origins get nothing from siteserve, its own pages lose nothing.

The site under attack runs with uploads and live reload on. The attacker is a
second siteserve on another port, serving ``attack.html``, reached two ways:

- as ``http://127.0.0.1:OTHER``: another origin on this machine (the same
  *site*, since a site ignores ports). The same-origin policy keeps what it
  fetches from it; the server must refuse what it *sends* (an upload, a form
  posted into a hidden frame, the reload socket);
- as ``http://evil.test:PORT``, with ``evil.test`` mapped to 127.0.0.1 by
  ``--host-resolver-rules``: the page after DNS rebinding, same-origin with the
  site. Only the host check stands in its way: every request says
  ``Host: evil.test:PORT``.

Chromium's own Local Network Access check would stop the rebinding page's
requests before they leave the browser (a page of unknown address fetching
from loopback); it is turned off here, so the requests reach the server as
they do from Firefox or Safari, and the test shows the server's answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Route

from siteserve.reload.app import ReloadApp
from tests.browser.conftest import CHROMIUM_ARGS, launched
from tests.conftest import RunningServer, find_layer

TIMEOUT_MS = 10_000
DEADLINE = 10.0
SECRET = "the secret"
REBINDING_ARGS = [
    *(arg for arg in CHROMIUM_ARGS if not arg.startswith("--host-resolver-rules")),
    "--host-resolver-rules=MAP evil.test 127.0.0.1 , MAP * ~NOTFOUND ,"
    " EXCLUDE 127.0.0.1 , EXCLUDE localhost",
    "--disable-features=LocalNetworkAccessChecks,BlockInsecurePrivateNetworkRequests,"
    "PrivateNetworkAccessSendPreflights",
]

#: What the attacker's page tries, against the site at ``victim`` (an origin).
ATTACK = """async (victim) => {
  const out = {};
  const attempt = async (name, run) => {
    try { out[name] = await run(); } catch (error) { out[name] = "blocked: " + error.name; }
  };
  await attempt("read", async () => {
    const answer = await fetch(victim + "/secret.txt");
    return [answer.status, await answer.text()];
  });
  await attempt("listing", async () => {
    const answer = await fetch(victim + "/inbox/?format=json");
    return [answer.status, await answer.text()];
  });
  await attempt("token", async () => {
    const answer = await fetch(victim + "/__siteserve/ws-token");
    return [answer.status, await answer.text()];
  });
  const files = () => {
    const data = new FormData();
    data.append("file", new File(["from the attacker"], "planted.txt", {type: "text/plain"}));
    return data;
  };
  await attempt("upload", async () => {
    const answer = await fetch(victim + "/inbox/", {method: "POST", body: files()});
    return [answer.status];
  });
  await attempt("upload_no_cors", async () => {
    // A "simple" request: sent without a preflight, whatever the answer.
    const options = {method: "POST", body: files(), mode: "no-cors"};
    const answer = await fetch(victim + "/inbox/", options);
    return [answer.type];
  });
  await attempt("mkdir", async () => {
    const body = new URLSearchParams({mkdir: "planted"});
    const answer = await fetch(victim + "/inbox/", {method: "POST", body, mode: "no-cors"});
    return [answer.type];
  });
  await attempt("form", () => new Promise((resolve) => {
    // The classic CSRF: a form posted into a hidden frame, a file picked by script.
    const sink = document.createElement("iframe");
    sink.name = "sink";
    sink.onload = () => {
      // The frame's first load is its own about:blank; the second is the answer.
      try {
        if (sink.contentWindow.location.href === "about:blank") return;
      } catch {}  // another origin's answer: not readable, and not about:blank
      resolve("posted");
    };
    document.body.append(sink);
    const form = document.createElement("form");
    Object.assign(form, {method: "post", enctype: "multipart/form-data", target: "sink"});
    form.action = victim + "/inbox/";
    const input = Object.assign(document.createElement("input"), {type: "file", name: "file"});
    const picked = new DataTransfer();
    picked.items.add(new File(["from a form"], "framed.txt"));
    input.files = picked.files;
    form.append(input);
    document.body.append(form);
    form.submit();
  }));
  const socket = (query) => new Promise((resolve) => {
    const ws = new WebSocket(victim.replace(/^http/, "ws") + "/__siteserve/ws" + query);
    ws.onopen = () => { ws.close(); resolve("open"); };
    ws.onclose = () => resolve("refused");
  });
  out.socket = await socket("");
  out.socket_guess = await socket("?socket_token=guess");
  return out;
}"""


@pytest.fixture(scope="module")
def rebinding_browser() -> Iterator[Browser]:
    with launched(REBINDING_ARGS) as instance:
        yield instance


@pytest.fixture
def victim_root(tmp_path: Path) -> Path:
    site = tmp_path / "victim"
    (site / "inbox").mkdir(parents=True)
    (site / "inbox" / "kept.txt").write_text("kept")
    (site / "secret.txt").write_text(SECRET)
    (site / "index.html").write_text(
        '<!doctype html><html><head><meta charset="utf-8"><title>v</title></head>'
        '<body><p id="v">one</p></body></html>'
    )
    return site


@pytest.fixture
def victim(serve_site: Callable[..., RunningServer], victim_root: Path) -> RunningServer:
    return serve_site(victim_root, upload=True, reload=True, quiet=True)


@pytest.fixture
def attacker(serve_site: Callable[..., RunningServer], tmp_path: Path) -> RunningServer:
    site = tmp_path / "attacker"
    site.mkdir()
    (site / "attack.html").write_text(
        '<!doctype html><html><head><meta charset="utf-8"><title>a</title></head>'
        "<body><p>nothing to see</p></body></html>"
    )
    return serve_site(site, quiet=True)


def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def untouched(root: Path) -> None:
    assert sorted(path.name for path in (root / "inbox").iterdir()) == ["kept.txt"]


def refused(server: RunningServer, method: str, path: str) -> int:
    """How many ``method path`` requests the server answered with 403 (they did arrive)."""
    return sum(
        r.method == method and r.path.partition("?")[0] == path and r.status == 403
        for r in list(server.records)
    )


def test_the_sites_own_pages_upload_and_reload(
    rebinding_browser: Browser, victim: RunningServer, victim_root: Path
) -> None:
    page = rebinding_browser.new_page()
    page.goto(victim.url("/inbox/"))
    page.set_input_files(
        "#upload input[type=file]",
        files=[{"name": "mine.txt", "mimeType": "text/plain", "buffer": b"my own"}],
    )
    # Back to the listing by the form's redirect, or by live reload if the new file is seen
    # first (that reload may cut the redirect short): either way the listing shows it.
    page.click("#upload button[type=submit]")
    page.locator("li[data-name='mine.txt']").wait_for(timeout=TIMEOUT_MS)
    assert (victim_root / "inbox" / "mine.txt").read_text() == "my own"
    assert not (victim_root / "inbox" / "mine (1).txt").exists()  # sent once
    page.close()
    page = rebinding_browser.new_page()
    page.goto(victim.url("/"))
    reload = find_layer(victim.app, ReloadApp)
    until(lambda: any(c.page == "/" for c in list(reload.clients)), "the tab's socket")
    (victim_root / "index.html").write_text("<!doctype html><p id='v'>two</p>")
    page.wait_for_function(
        "document.getElementById('v')?.textContent === 'two'", timeout=TIMEOUT_MS
    )
    page.close()


def test_a_page_on_another_port_gets_nothing(
    rebinding_browser: Browser,
    victim: RunningServer,
    victim_root: Path,
    attacker: RunningServer,
) -> None:
    page = rebinding_browser.new_page()
    page.goto(attacker.url("/attack.html"))
    out: dict[str, Any] = page.evaluate(ATTACK, victim.base_url)
    # Reading: the same-origin policy keeps the answers from the page.
    for name in ("read", "listing", "token"):
        assert out[name] == "blocked: TypeError", (name, out[name])
    assert out["upload"] == "blocked: TypeError"
    # Sending: the requests went out and the server refused each of them.
    assert out["upload_no_cors"] == ["opaque"] and out["form"] == "posted"
    assert out["socket"] == out["socket_guess"] == "refused"
    untouched(victim_root)
    # Both uploads, the new folder and the form; the token; both sockets.
    assert refused(victim, "POST", "/inbox/") == 4
    assert refused(victim, "GET", "/__siteserve/ws-token") == 1
    assert refused(victim, "GET", "/__siteserve/ws") == 2
    page.close()


def rebound(browser: Browser, attacker: RunningServer, port: int) -> tuple[Any, str]:
    """The attacker's page at ``http://evil.test:PORT``, as loaded before the DNS switch."""
    origin = f"http://evil.test:{port}"
    html = httpx.get(attacker.url("/attack.html")).text
    page = browser.new_page()

    def from_the_attacker(route: Route) -> None:
        route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html)

    page.route(f"{origin}/attack.html", from_the_attacker)
    page.goto(f"{origin}/attack.html")
    return page, origin


def test_a_rebinding_page_is_refused_by_the_host_check(
    rebinding_browser: Browser,
    victim: RunningServer,
    victim_root: Path,
    attacker: RunningServer,
) -> None:
    page, origin = rebound(rebinding_browser, attacker, victim.port)
    out: dict[str, Any] = page.evaluate(ATTACK, origin)
    # Same-origin now, so the page sees the answers: each one a 403 from the host check.
    for name in ("read", "listing", "token"):
        status, body = out[name]
        assert status == 403, name
        assert SECRET not in body and "kept.txt" not in body
        assert "--allowed-host evil.test" in body
    assert out["upload"] == [403] and out["form"] == "posted"
    assert out["socket"] == out["socket_guess"] == "refused"
    untouched(victim_root)
    assert refused(victim, "POST", "/inbox/") == 4
    assert refused(victim, "GET", "/__siteserve/ws") == 2
    page.close()


def test_the_same_page_reads_a_server_that_was_told_the_name(
    rebinding_browser: Browser,
    serve_site: Callable[..., RunningServer],
    victim_root: Path,
    attacker: RunningServer,
) -> None:
    # The control: with --allowed-host evil.test the requests reach the site; so in the
    # test above it is the host check that refused them, not the browser or the setup.
    trusting = serve_site(victim_root, quiet=True, allowed_hosts=("evil.test",))
    page, origin = rebound(rebinding_browser, attacker, trusting.port)
    answer = page.evaluate(
        "async (url) => { const a = await fetch(url); return [a.status, await a.text()]; }",
        f"{origin}/secret.txt",
    )
    assert answer == [200, SECRET]
    page.close()
