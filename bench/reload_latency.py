"""Live reload latency: from a file write to the new content in Chromium's DOM.

For siteserve and live-server (installed with npm into a temporary folder), one
after the other in the same run, on the same generated page:

- HTML: 20 edits of the page; each time, milliseconds from the write to the new
  text in the DOM, of the reloaded page or of the page updated in place (p50, p95,
  worst, missed edits);
- CSS: 20 edits of the stylesheet; milliseconds from the write to the new
  colour applied, and whether the page survived (a ``window`` variable set
  before the edit is still there, no new page load);
- a burst of 50 writes: how many page loads (and updates in place) it caused and
  whether the page ended on the last write;
- a restart: the server is stopped and started again on the same port, then
  the page is edited once more: does the open tab show it?

The page reports times itself: a script added to every document (before the
page's own scripts) watches the DOM and computed style and reports
``performance.timeOrigin + performance.now()``, on the same wall clock as the
write's ``time.time()``. It also reports Navigation and Resource Timing, printed as
the median of each stage of a reload and of a stylesheet swap (ms after the write),
to show where the time goes: the server's part ends when the response arrives.
Run from the repository root: ``python -m bench.reload_latency [--edits 20] [--no-live-server]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, sync_playwright

from bench.proc import Children, free_port, supervised, wait_ready

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost",
]
LIVE_SERVER_VERSION = "1.2.2"
EDIT_DEADLINE = 5.0
#: Time left between two edits so that one edit's reload never merges with the next.
GAP = 0.25
#: A reload's stages, each as ms after the write: the old page starts navigating (it got
#: the message), asks for the page, gets its first byte, its last byte,
#: the new document exists (the probe ran), the probe saw the new text, the DOM is
#: interactive, and DOMContentLoaded ran.
STAGES = (
    "start",
    "request",
    "response",
    "body",
    "unload",
    "unloaded",
    "loading",
    "commit",
    "text",
    "dom",
    "ready",
)
#: An HTML change shown in place (reload.js fetches the page and morphs the DOM): the tab
#: got the message, asked for the page, got its first byte, its last byte, and the probe
#: saw the new text.
MORPH_STAGES = ("message", "request", "response", "body", "text")
#: A stylesheet swap's stages: the new sheet is asked for, its first and last byte
#: arrive, and the probe sees the new colour.
CSS_STAGES = ("request", "response", "body", "applied")

# Runs first in every document: report each new value of #v's text and colour.
PROBE = """
(() => {
  const now = () => performance.timeOrigin + performance.now();
  let lastText = null, lastColor = null;
  const check = () => {
    const el = document.getElementById("v");
    if (!el) return;
    const text = el.textContent, color = getComputedStyle(el).color;
    if (text !== lastText) { lastText = text; window.__report("text", text, now()); }
    if (color !== lastColor) {
      lastColor = color;
      window.__report("color", color, now());
      // The stylesheet just applied: when it was asked for and arrived (for the stages).
      const sheet = performance.getEntriesByType("resource").filter(
        (e) => e.name.includes(".css")).pop();
      if (sheet) {
        const at = (name) => performance.timeOrigin + sheet[name];
        window.__report("sheet", JSON.stringify({request: at("startTime"),
          response: at("responseStart"), body: at("responseEnd")}), now());
      }
    }
  };
  window.__report("load", location.href, now());
  // Where a reload's time went (Navigation Timing, on the same clock): for --stages.
  document.addEventListener("DOMContentLoaded", () => {
    const nav = performance.getEntriesByType("navigation")[0];
    if (!nav) return;
    const at = (name) => performance.timeOrigin + nav[name];
    const stages = {start: performance.timeOrigin, request: at("requestStart"),
      response: at("responseStart"), unload: at("unloadEventStart"),
      unloaded: at("unloadEventEnd"), loading: performance.timing.domLoading,
      body: at("responseEnd"), dom: at("domInteractive"),
      ready: now()};
    window.__report("nav", JSON.stringify(stages), now());
  });
  // An HTML change shown in place: when the message came, and the page fetch's timing.
  window.addEventListener("siteserve:morph", (event) => {
    const fetched = performance.getEntriesByType("resource").filter(
      (e) => e.initiatorType === "fetch" && e.name === location.href).pop();
    const at = (name) => performance.timeOrigin + fetched[name];
    const stages = {message: performance.timeOrigin + event.detail.started};
    if (fetched) Object.assign(stages, {request: at("startTime"),
      response: at("responseStart"), body: at("responseEnd")});
    window.__report("morph", JSON.stringify(stages), now());
  });
  new MutationObserver(check).observe(document, {subtree: true, childList: true,
    characterData: true, attributes: true});
  document.addEventListener("load", check, true);
  // Stylesheet swaps fire "load" (caught above); this only catches anything else.
  setInterval(check, 50);
})();
"""


def page_html(n: int) -> str:
    return (
        "<!doctype html>\n<html><head><meta charset=utf-8><title>bench</title>\n"
        '<link rel="stylesheet" href="style.css"></head>\n'
        f'<body><h1>reload bench</h1><p id="v">{n}</p></body></html>\n'
    )


def stylesheet(n: int) -> str:
    return f"body {{ font: 16px sans-serif; }}\n#v {{ color: rgb({n}, 0, 0); }}\n"


@dataclass
class Reports:
    """What the page reported, in order, with a condition variable to wait on."""

    items: list[tuple[str, str, float]] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def add(self, kind: str, value: str, at_ms: float) -> None:
        with self.cond:
            self.items.append((kind, value, at_ms / 1000.0))
            self.cond.notify_all()

    def wait(self, kind: str, value: str, start: int, page: Page) -> float | None:
        deadline = time.monotonic() + EDIT_DEADLINE
        while True:
            with self.cond:
                for item in self.items[start:]:
                    if item[0] == kind and item[1] == value:
                        return item[2]
            if time.monotonic() > deadline:
                return None
            # Playwright's sync API delivers bindings while it waits on the page.
            page.wait_for_timeout(10)

    def first(self, kind: str, start: int) -> str | None:
        with self.cond:
            return next((item[1] for item in self.items[start:] if item[0] == kind), None)

    def first_at(self, kind: str, start: int) -> float:
        with self.cond:
            return next(item[2] for item in self.items[start:] if item[0] == kind)

    def count(self, kind: str, start: int) -> int:
        with self.cond:
            return sum(1 for item in self.items[start:] if item[0] == kind)

    def last(self, kind: str) -> str | None:
        with self.cond:
            values = [item[1] for item in self.items if item[0] == kind]
        return values[-1] if values else None


@dataclass
class Result:
    name: str
    html_ms: list[float] = field(default_factory=list)
    html_missed: int = 0
    css_ms: list[float] = field(default_factory=list)
    css_missed: int = 0
    css_reloads: int = 0
    state_kept: bool = True
    #: Per HTML edit: ms from the write to each stage of the reload (``STAGES``).
    stages: list[dict[str, float]] = field(default_factory=list)
    #: Per HTML edit shown in place: ms from the write to each stage (``MORPH_STAGES``).
    morph_stages: list[dict[str, float]] = field(default_factory=list)
    #: Per CSS edit: ms from the write to each stage of the swap (``CSS_STAGES``).
    css_stages: list[dict[str, float]] = field(default_factory=list)
    burst_loads: int = 0
    #: Updates in place the burst caused (reload.js); loads plus these should be one.
    burst_morphs: int = 0
    burst_final_ok: bool = False
    after_restart: bool = False
    note: str = ""


def median(values: list[float]) -> float:
    """The p50 as every other reader of these figures takes it (``bench.chart``, the ratios
    below): ``statistics.median``, the mean of the two middle values of an even count."""
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def write(path: Path, text: str) -> float:
    """Write like an editor does (truncate, write, close); answers the time just before."""
    started = time.time()
    with path.open("w") as handle:
        handle.write(text)
    return started


def measure(
    name: str, root: Path, url: str, edits: int, browser: Any, restart: Callable[[], None]
) -> Result:
    result = Result(name)
    reports = Reports()
    context = browser.new_context()
    page = context.new_page()
    page.expose_binding("__report", lambda source, kind, value, at: reports.add(kind, value, at))
    page.add_init_script(PROBE)
    page.goto(url)
    # Warm-up edits until the reload channel answers (the client connects after load).
    counter = 1000
    for _ in range(40):
        counter += 1
        mark = len(reports.items)
        write(root / "index.html", page_html(counter))
        if reports.wait("text", str(counter), mark, page) is not None:
            break
    else:
        result.note = "never reloaded"
        context.close()
        return result
    page.wait_for_timeout(GAP * 1000)

    for i in range(edits):
        counter += 1
        mark = len(reports.items)
        written = write(root / "index.html", page_html(counter))
        seen = reports.wait("text", str(counter), mark, page)
        if seen is None:
            result.html_missed += 1
            print(f"missed html {counter} written at {written:.3f}", file=sys.stderr)
        else:
            result.html_ms.append((seen - written) * 1000)
        page.wait_for_timeout(GAP * 1000)
        nav = reports.first("nav", mark)
        morph = reports.first("morph", mark)
        if seen is not None and nav is None and morph is not None:
            stamps = json.loads(morph)
            stamps["text"] = seen * 1000
            result.morph_stages.append(
                {name: stamps[name] - written * 1000 for name in MORPH_STAGES if name in stamps}
            )
        if seen is not None and nav is not None:
            stamps = json.loads(nav)
            stamps["text"] = seen * 1000
            stamps["commit"] = reports.first_at("load", mark) * 1000
            stage = {name: stamps[name] - written * 1000 for name in STAGES}
            result.stages.append(stage)
        del i

    page.evaluate("window.__kept = 'yes'")
    for i in range(1, edits + 1):
        mark = len(reports.items)
        written = write(root / "style.css", stylesheet(i * 10))
        seen = reports.wait("color", f"rgb({i * 10}, 0, 0)", mark, page)
        if seen is None:
            result.css_missed += 1
        else:
            result.css_ms.append((seen - written) * 1000)
            sheet = reports.first("sheet", mark)
            stamps = json.loads(sheet) if sheet is not None else {}
            # Only a sheet asked for after the write (live-server swaps in other ways).
            if stamps and stamps["request"] >= written * 1000:
                stamps["applied"] = seen * 1000
                result.css_stages.append(
                    {name: stamps[name] - written * 1000 for name in CSS_STAGES}
                )
        page.wait_for_timeout(GAP * 1000)
        result.css_reloads += reports.count("load", mark)
    result.state_kept = page.evaluate("window.__kept") == "yes"

    # A burst: 50 writes as fast as Python can, then see what the tab did.
    mark = len(reports.items)
    final = counter + 50
    for n in range(counter + 1, final + 1):
        write(root / "index.html", page_html(n))
    reports.wait("text", str(final), mark, page)
    page.wait_for_timeout(1500)
    result.burst_loads = reports.count("load", mark)
    result.burst_morphs = reports.count("morph", mark)
    result.burst_final_ok = reports.last("text") == str(final)

    # Stop the server and start it again on the same port; then one more edit.
    restart()
    counter = final + 1
    mark = len(reports.items)
    write(root / "index.html", page_html(counter))
    result.after_restart = reports.wait("text", str(counter), mark, page) is not None
    context.close()
    return result


def make_site(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "index.html").write_text(page_html(0))
    (root / "style.css").write_text(stylesheet(0))


def install_live_server(folder: Path) -> Path | None:
    npm = shutil.which("npm")
    if npm is None:
        return None
    subprocess.run(
        [
            npm,
            "install",
            "--no-audit",
            "--no-fund",
            "--silent",
            f"live-server@{LIVE_SERVER_VERSION}",
        ],
        cwd=folder,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    script = folder / "node_modules" / "live-server" / "live-server.js"
    return script if script.is_file() else None


Launcher = Callable[[Path, int], list[str]]


def siteserve_argv(root: Path, port: int, *, verbose: bool = False) -> list[str]:
    if verbose:
        # The reload log (one line per change set) and the request log, for --server-log.
        code = (
            "import logging, sys; logging.basicConfig(level=logging.INFO,"
            " format='%(created).3f %(name)s %(message)s');"
            "from siteserve.cli import main; sys.exit(main(sys.argv[1:]))"
        )
        return [sys.executable, "-c", code, str(root), "-p", str(port), "--strict-port"]
    return [sys.executable, "-m", "siteserve", str(root), "-p", str(port), "--strict-port", "-q"]


def run_one(
    children: Children,
    name: str,
    argv: list[str],
    root: Path,
    port: int,
    edits: int,
    browser: Any,
    *,
    show_log: bool = False,
) -> Result:
    log = root.parent / f"{name}.log"
    child = children.launch(name, argv, log)

    def restart() -> None:
        nonlocal child
        children.stop(child)
        child = children.launch(name, argv, log.with_suffix(".restarted.log"))
        wait_ready(child, port, "/")

    try:
        wait_ready(child, port, "/")
        return measure(name, root, f"http://127.0.0.1:{port}/", edits, browser, restart)
    finally:
        children.stop(child)
        if show_log:
            print(f"--- {name} log", child.log_path.read_text()[-20000:], sep="\n", file=sys.stderr)


def show(results: list[Result]) -> None:
    print()
    header = f"{'server':<12} {'HTML p50':>9} {'p95':>7} {'max':>7} {'missed':>6}"
    header += f" {'CSS p50':>8} {'p95':>7} {'missed':>6} {'reloads':>7} {'state':>5}"
    header += f" {'burst loads':>11} {'in place':>8} {'last':>5} {'restart':>7}"
    print(header)
    for r in results:
        if r.note:
            print(f"{r.name:<12} {r.note}")
            continue
        print(
            f"{r.name:<12} {median(r.html_ms):>7.1f}ms"
            f" {percentile(r.html_ms, 0.95):>5.1f}ms"
            f" {max(r.html_ms, default=float('nan')):>5.1f}ms {r.html_missed:>6}"
            f" {median(r.css_ms):>6.1f}ms {percentile(r.css_ms, 0.95):>5.1f}ms"
            f" {r.css_missed:>6} {r.css_reloads:>7} {'kept' if r.state_kept else 'lost':>5}"
            f" {r.burst_loads:>11} {r.burst_morphs:>8} {'yes' if r.burst_final_ok else 'NO':>5}"
            f" {'back' if r.after_restart else 'LOST':>7}"
        )
    for r in results:
        if r.stages:
            medians = "  ".join(
                f"{name} {statistics.median(s[name] for s in r.stages):.1f}" for name in STAGES
            )
            print(f"{r.name} HTML stages, median ms after the write: {medians}")
        if r.morph_stages:
            medians = "  ".join(
                f"{name} {statistics.median(s[name] for s in r.morph_stages if name in s):.1f}"
                for name in MORPH_STAGES
                if any(name in s for s in r.morph_stages)
            )
            print(f"{r.name} HTML in place, {len(r.morph_stages)} edits, median ms: {medians}")
        if r.css_stages:
            medians = "  ".join(
                f"{name} {statistics.median(s[name] for s in r.css_stages):.1f}"
                for name in CSS_STAGES
            )
            print(f"{r.name} CSS stages, median ms after the write: {medians}")
    base = results[0]
    for other in results[1:]:
        if other.html_ms and base.html_ms:
            ratio = median(other.html_ms) / median(base.html_ms)
            print(f"{other.name}: HTML p50 is {ratio:.1f}x siteserve's")
        if other.css_ms and base.css_ms:
            ratio = median(other.css_ms) / median(base.css_ms)
            print(f"{other.name}: CSS p50 is {ratio:.1f}x siteserve's")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--no-live-server", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--server-log", action="store_true", help="print each server's log")
    args = parser.parse_args(argv)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="reload-bench-") as scratch_name:
        scratch = Path(scratch_name)
        live_server = None if args.no_live_server else install_live_server(scratch)
        with supervised() as children, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                root = scratch / "siteserve" / "site"
                make_site(root)
                port = free_port()
                argv = siteserve_argv(root, port, verbose=args.server_log)
                results.append(
                    run_one(
                        children,
                        "siteserve",
                        argv,
                        root,
                        port,
                        args.edits,
                        browser,
                        show_log=args.server_log,
                    )
                )
                if live_server is not None:
                    root = scratch / "live-server" / "site"
                    make_site(root)
                    port = free_port()
                    command = [
                        "node",
                        str(live_server),
                        f"--port={port}",
                        "--host=127.0.0.1",
                        "--no-browser",
                        str(root),
                    ]
                    results.append(
                        run_one(
                            children,
                            "live-server",
                            command,
                            root,
                            port,
                            args.edits,
                            browser,
                            show_log=args.server_log,
                        )
                    )
                elif not args.no_live_server:
                    print("live-server: npm not found, skipped", file=sys.stderr)
            finally:
                browser.close()
    show(results)
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
