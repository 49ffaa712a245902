"""The template pages of sample_site/ work as the demo says they do."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import RunningServer

SAMPLE_SITE = Path(__file__).resolve().parents[2] / "sample_site"
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def client(serve_site: Callable[..., RunningServer]) -> Iterator[httpx.Client]:
    server = serve_site(SAMPLE_SITE)
    with httpx.Client(base_url=server.base_url) as made:
        yield made


def test_the_blog_lists_the_posts_from_data(client: httpx.Client) -> None:
    response = client.get("/blog/")
    assert response.status_code == 200
    assert len(re.findall(r'<li>\s*<a href="/blog/[a-z-]+">', response.text)) == 3
    assert "Grace Hopper" in response.text  # from _data/authors.toml
    assert 'aria-current="page">Blog</a>' in response.text  # the nav partial


def test_a_post_page_and_an_unknown_slug(client: httpx.Client) -> None:
    post = client.get("/blog/forms-and-sessions")
    assert post.status_code == 200
    assert "<h1>Forms and sessions</h1>" in post.text
    assert "<title>Forms and sessions · siteserve sample site</title>" in post.text
    missing = client.get("/blog/no-such-post")
    assert missing.status_code == 404
    assert "Nothing here." in missing.text and "/blog/no-such-post" in missing.text


def test_the_form_counts_posts_in_the_session(client: httpx.Client) -> None:
    assert 'id="count">0<' in client.get("/hello").text
    sent = client.post("/hello", data={"name": "Zoë <3", "colour": "plum"})
    assert sent.status_code == 200
    assert 'value="Zoë &lt;3"' in sent.text  # re-rendered with the posted value, escaped
    assert 'id="count">1<' in sent.text
    assert 'id="count">2<' in client.post("/hello", data={"name": "Zoë"}).text
    again = client.get("/hello")
    assert 'id="count">2<' in again.text and 'value="Zoë"' in again.text
    forgotten = client.post("/hello", data={"action": "forget"}, follow_redirects=True)
    assert 'id="count">0<' in forgotten.text


def test_the_feed_is_atom(client: httpx.Client) -> None:
    response = client.get("/feed.xml")
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
    assert response.text.startswith("<?xml")
    feed = ElementTree.fromstring(response.content)
    titles = [entry.findtext(f"{ATOM}title") for entry in feed.iter(f"{ATOM}entry")]
    assert titles == ["Reload what changed", "Forms and sessions", "Pages from a folder"]


def test_the_custom_404_template_answers_misses(client: httpx.Client) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "404.html.jinja" in response.text and "/no/such/page" in response.text


# -- the Markdown notes -------------------------------------------------------------------

NOTES = [
    "Edit a post, watch the list",
    "Front matter, lists and tags",
    "A folder of Markdown is a site",
]


def test_the_notes_index_lists_the_markdown_posts_newest_first(client: httpx.Client) -> None:
    response = client.get("/notes/")
    assert response.status_code == 200
    titles = re.findall(r'<li>\s*<a href="/notes/[a-z-]+">([^<]+)</a>', response.text)
    assert titles == NOTES  # the draft is not listed
    assert 'aria-current="page">Notes</a>' in response.text
    assert '<a href="/tags/pages">pages</a>' in response.text


def test_a_markdown_post_through_its_layout(client: httpx.Client) -> None:
    post = client.get("/notes/markdown-pages")
    assert post.status_code == 200
    assert "<title>A folder of Markdown is a site · siteserve sample site</title>" in post.text
    assert '<pre class="highlight"><code class="language-python">' in post.text
    assert "&lt;!-- more --&gt;" not in post.text
    assert "<table>" in post.text and 'class="footnote-ref"' in post.text
    assert (
        client.get("/notes/markdown-pages.md").headers["content-type"].startswith("text/markdown")
    )
    assert client.get("/__siteserve/highlight.css").status_code == 200
    draft = client.get("/notes/next-steps")  # not listed, yet its URL works
    assert draft.status_code == 200 and "a draft" in draft.text


def test_tag_pages(client: httpx.Client) -> None:
    tagged = client.get("/tags/pages")
    assert tagged.status_code == 200
    titles = re.findall(r'<li>\s*<a href="/notes/[a-z-]+">([^<]+)</a>', tagged.text)
    assert titles == [NOTES[1], NOTES[2]]
    assert client.get("/tags/drafts").status_code == 404  # only the draft has it
    assert client.get("/tags/no-such-tag").status_code == 404


def test_the_notes_feed(client: httpx.Client) -> None:
    response = client.get("/notes/feed.xml")
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
    feed = ElementTree.fromstring(response.content)
    entries = list(feed.iter(f"{ATOM}entry"))
    assert [entry.findtext(f"{ATOM}title") for entry in entries] == NOTES
    content = entries[2].findtext(f"{ATOM}content") or ""
    assert '<pre class="highlight">' in content  # the post's HTML, escaped in the XML


def test_every_page_has_the_same_nav(client: httpx.Client) -> None:
    def links(path: str) -> list[str]:
        text = client.get(path).text
        nav = text[text.index("<nav>") : text.index("</nav>")]
        return re.findall(r'<a href="([^"]+)"', nav)

    expected = links("/blog/")
    assert expected == ["/about", "/blog/", "/notes/", "/hello", "/downloads/"]
    for path in ("/", "/about", "/hello", "/notes/", "/notes/markdown-pages", "/tags/pages"):
        assert links(path) == expected, path
