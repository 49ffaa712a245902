"""Porting help: undefined names render empty but say so, once; missing data names explain."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.unit.page_support import LOCAL_CLIENT, body_text, page_site


def warnings_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "siteserve.pages" and record.levelno == logging.WARNING
    ]


def test_an_undefined_name_renders_empty_and_warns_once_per_template_and_name(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    files = {
        "_partials/footer.html": "v{{ app_version }}",
        "a.html.jinja": "[{{ app_version }}]\n"
        "{{ app_version }}{% include '_partials/footer.html' %}",
        "b.html.jinja": "{{ app_version }}{{ other }}",
    }
    caplog.set_level(logging.WARNING, logger="siteserve.pages")
    with page_site(tmp_path, files) as site:
        first = site.get("/a")
        assert body_text(first) == "[]\nv"
        assert first.warnings == (
            "a.html.jinja:1: 'app_version' is undefined (rendered as empty text)",
            "a.html.jinja:2: 'app_version' is undefined (rendered as empty text)",
            "_partials/footer.html:1: 'app_version' is undefined (rendered as empty text)",
        )
        again = site.get("/a")
        assert again.warnings == first.warnings  # each render tells its tab again
        site.get("/b")
    assert warnings_logged(caplog) == [
        "a.html.jinja:1: 'app_version' is undefined (rendered as empty text)",
        "_partials/footer.html:1: 'app_version' is undefined (rendered as empty text)",
        "b.html.jinja:1: 'app_version' is undefined (rendered as empty text)",
        "b.html.jinja:1: 'other' is undefined (rendered as empty text)",
    ]


def test_asking_whether_something_is_there_does_not_warn(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    files = {
        "p.html.jinja": "---\ntitle: T\n---\n"
        "{% if subtitle %}x{% endif %}{{ subtitle|default('d') }}{{ page.title }}"
        "{% for tag in page.tags %}{{ tag }}{% endfor %}{{ page.nope is defined }}",
    }
    caplog.set_level(logging.WARNING, logger="siteserve.pages")
    with page_site(tmp_path, files) as site:
        response = site.get("/p")
        assert body_text(response) == "dTFalse"
        assert response.warnings == ()
    assert warnings_logged(caplog) == []


def test_a_missing_key_of_front_matter_names_the_keys_there(tmp_path: Path) -> None:
    with page_site(
        tmp_path, {"p.html.jinja": "---\ndate: 2024-01-01\n---\n{{ page.title }}"}
    ) as site:
        assert site.get("/p").warnings == (
            "p.html.jinja:4: no 'title' here (the keys are: date) (rendered as empty text)",
        )


def test_strict_undefined_is_still_an_error(tmp_path: Path) -> None:
    files = {"siteserve.toml": "strict_undefined = true\n", "p.html.jinja": "{{ app_version }}"}
    with page_site(tmp_path, files) as site:
        response = site.get("/p", client=LOCAL_CLIENT)
        assert response.status == 500
        assert "&#39;app_version&#39; is undefined" in body_text(response)


def test_a_missing_data_name_names_the_data_folder_and_its_files(tmp_path: Path) -> None:
    files = {
        "_data/authors.toml": "[ada]\nname = 'Ada'\n",
        "_data/posts.json": "[]",
        "p.html.jinja": "{{ data.nope.title }}",
        "q.html.jinja": "[{{ data.nope }}]{% if data.nope %}x{% endif %}",
    }
    with page_site(tmp_path, files) as site:
        response = site.get("/p", client=LOCAL_CLIENT)
        assert response.status == 500
        text = body_text(response)
        # The page names the folder relative to the site (issue 13: no absolute paths).
        assert (
            "data.nope: none of nope.json, nope.toml, nope.yaml, nope.yml, nope.csv is in "
            "_data, which holds authors.toml, posts.json"
        ) in text
        assert str(site.config.root) not in text
        assert "DataView" not in text
        quiet = site.get("/q")
        assert body_text(quiet) == "[]"
        assert "none of nope.json" in quiet.warnings[0]


def test_a_site_without_a_data_folder_says_so(tmp_path: Path) -> None:
    with page_site(tmp_path, {"p.html.jinja": "{{ data.nope.title }}"}) as site:
        text = body_text(site.get("/p", client=LOCAL_CLIENT))
        assert "there is no data folder _data " in text  # relative to the site (issue 13)
