"""The validators of injected pages through the proxy: mapped to the backend's and back."""

from __future__ import annotations

import pytest

from siteserve.proxy.validators import backend_if_none_match, browser_not_modified


@pytest.mark.parametrize(
    ("sent", "backend_gets", "injected"),
    [
        ('"abc+reload"', '"abc"', {"abc"}),
        ('W/"abc+reload"', 'W/"abc"', {"abc"}),
        ('"a,b+reload", "other"', '"a,b", "other"', {"a,b"}),  # a comma inside a tag
        ('"abc"', '"abc"', set()),  # the backend's own tag: untouched
        ("*", "*", set()),
        ('"x+reload", W/"y+reload"', '"x", W/"y"', {"x", "y"}),
    ],
)
def test_injected_tags_reach_the_backend_as_its_own(
    sent: str, backend_gets: str, injected: set[str]
) -> None:
    assert backend_if_none_match(sent) == (backend_gets, frozenset(injected))


@pytest.mark.parametrize(
    ("etag", "injected", "browser_gets"),
    [
        ('"abc"', {"abc"}, '"abc+reload"'),
        ('W/"abc"', {"abc"}, 'W/"abc+reload"'),
        ('"new"', {"abc"}, '"new"'),  # validates something the browser did not store injected
    ],
)
def test_a_304_for_an_injected_page_names_it_again(
    etag: str, injected: set[str], browser_gets: str
) -> None:
    fields = [("ETag", etag), ("Cache-Control", "no-cache")]
    assert browser_not_modified(fields, frozenset(injected)) == [
        ("ETag", browser_gets),
        ("Cache-Control", "no-cache"),
    ]
