"""How much each of the server's caches and tables may hold: every bound in one place.

A dev server runs for hours while clients choose the keys: a crawler, a script asking
for random URLs, a page with a thousand images. Every table that grows with what
clients ask for is bounded here, by entries and (where one entry can be large) by
bytes, and drops its least recently used entries first. The modules that own the
tables import these names; ``tests/unit/test_bounds.py`` floods each one with distinct
keys and checks that the bound holds and the cache still answers.
"""

from __future__ import annotations

from typing import Final

KiB: Final = 1024
MiB: Final = 1024 * KiB

# -- static files (site/static.py, site/compression.py) --------------------------------

#: File versions remembered (headers, validators, representations: about 2 KiB each).
#: More than the files of any site people preview; a folder shared on the LAN with more
#: files than this costs one rebuild of the headers per miss, nothing else.
STATIC_VERSIONS: Final = 16384
#: Bytes of small files (up to 64 KiB each) and of rewritten HTML pages kept in memory.
#: A typical site's HTML, CSS and JS fit several times over; beyond it files are read again.
STATIC_BYTES: Final = 32 * MiB
#: Bytes of bodies coded on the fly (gzip, br). A bundle of a few MiB codes in tens of
#: milliseconds: keeping a site's text assets coded saves that on every reload.
COMPRESSED_BYTES: Final = 64 * MiB
#: Coded bodies remembered. Needed besides the bytes bound: a body that coding would
#: not shrink is remembered as an empty marker, which the bytes bound never sees.
COMPRESSED_ENTRIES: Final = 16384

# -- whole answers (server/answers.py) ----------------------------------------------------

#: Complete answers (head without its Date line, and body) kept per request as sent, for
#: requests that repeat byte for byte (a browser's, a benchmark's). Keyed by the request's
#: bytes, so clients choose the keys: bounded by entries and by bytes (keys included).
ANSWERS: Final = 4096
#: Small bodies are also in STATIC_BYTES: kept twice, so this stays below that bound.
ANSWER_BYTES: Final = 16 * MiB
#: The largest body kept in one answer; larger files are sent from disk every time.
ANSWER_BODY: Final = 256 * KiB
#: The longest request head kept as a key; longer heads are always parsed.
ANSWER_KEY: Final = 4 * KiB
#: Kept answers with a large body also held whole in an in-memory file, sent from it
#: without a copy (``server/wire_files.py``): at most this many at once (a descriptor and
#: up to ANSWER_BODY of memory each); the others are written from ANSWER_BYTES as before.
ANSWER_WIRE_FILES: Final = 32

# -- resolving and rendering (site/resolver.py, site/pages.py, site/jinja_env.py) --------

#: URL paths resolved to a file or a page, kept per raw path. Route pages
#: (``[id].html.jinja``) make one entry per distinct URL, so clients choose the keys.
RESOLVER_ENTRIES: Final = 8192
#: Per-render conversions kept by the page handler (template path -> name, the set of
#: files a render used -> its sources, the last render time per template); each table
#: starts over when full, as its entries cost microseconds to make again.
PAGE_MEMO: Final = 4096
#: Compiled templates Jinja keeps (its own LRU). Sites have tens of templates; a
#: compile costs a millisecond or two, so a miss past this is cheap.
COMPILED_TEMPLATES: Final = 400
#: Parsed ``_data`` files. Each can be large (a CSV export), and a folder can hold many.
DATA_FILES: Final = 256
#: Rendered pages kept to answer again (``site/reuse.py``), by entries and by body bytes.
#: Keyed by URL (and host): a route page makes one entry per URL asked for. A blog's
#: posts and indexes fit many times; one body may take an eighth of the bytes.
RENDERED_PAGES: Final = 4096
RENDERED_BYTES: Final = 64 * MiB

#: Markdown and HTML files whose front matter and body are kept parsed (``front_matter``);
#: a content site has hundreds, a blog a few thousand. Starts over when full.
FRONT_MATTER_FILES: Final = 20_000
#: Files described for ``pages()`` collections, and globs whose listing is kept
#: (``collections``); both start over when full.
LISTED_PAGES: Final = 50_000
LISTED_GLOBS: Final = 256

#: Built-in error pages kept rendered, by status and message (``site/errors.py``).
#: A server says a handful of different things; a message naming what a client sent
#: makes one entry per client's choice.
ERROR_PAGES: Final = 64

# -- sessions (site/sessions.py) ---------------------------------------------------------

#: Sessions kept by the in-memory store, least recently used forgotten first. Sessions
#: are created only when a page stores something, so this is 10,000 visitors.
SESSIONS_IN_MEMORY: Final = 10_000

# -- live reload (reload/graph.py, reload/inject.py, reload/changes.py) -------------------

#: URL paths each page-graph table describes (the files behind a URL, the pages served
#: with the script, when each was served, the subresources a page pulled in). Open
#: tabs are tens; a 404 page answered to random URLs makes one entry per URL.
PAGE_GRAPH_URLS: Final = 4096
#: Subresources recorded for one page (its scripts, images, fetches).
PAGE_GRAPH_DEPS_PER_URL: Final = 512
#: Subresource links recorded over all pages: without it, 4096 pages of 512 links each
#: would be two million entries.
PAGE_GRAPH_DEPS: Final = 65536
#: Large source sets (a page listing a thousand posts) made once per tuple handed out
#: again by the page reuse; a few are all that is in use at a time.
PAGE_GRAPH_SOURCE_SETS: Final = 64
#: Page-graph notes the supervisor of ``--workers`` keeps, oldest first out, for a worker
#: that starts after they were made (a restarted one): it learns them before it listens.
WORKER_GRAPH_NOTES: Final = PAGE_GRAPH_URLS
#: Injected bodies the reload layer keeps for answers that are not static files (the
#: static pipeline keeps its own pages in STATIC_BYTES), by entries and by bytes, in
#: each of its two tables (bodies with a validator, and bodies handed out again by
#: the page reuse, known by identity).
INJECTED_ENTRIES: Final = 256
INJECTED_BYTES: Final = 16 * MiB
#: Changed files whose state is remembered to drop the watcher's late repeat events.
CHANGE_STATES: Final = 1024
#: URL paths whose "held or not" is remembered while one burst settles (``reload.hold``);
#: forgotten when the burst grows. Random URLs make one entry each: full, it starts over.
HOLD_ANSWERS: Final = 4096

# -- sharing (share/leftovers.py) --------------------------------------------------------

#: Host header values remembered with their verdict (``host_check``: clients choose the
#: keys), and refused names remembered to keep the log to one line per name.
HOST_VERDICTS: Final = 1024
REFUSED_NAMES: Final = 256
#: Idle connections kept open to each backend of ``--proxy``.
PROXY_IDLE_PER_BACKEND: Final = 32
#: Client addresses whose failed passwords or share-link tokens are counted (``slowdown``):
#: a flood of addresses costs a fixed amount; tests/unit/test_share_links.py floods it.
FAILED_ADDRESSES: Final = 4096
#: Folders remembered as swept of crash leftovers; past this many the memory starts
#: over (a second sweep of a folder finds nothing and costs one directory read).
SWEPT_FOLDERS: Final = 4096
