"""``_data`` files: every format, laziness, reload on change, recording, errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from siteserve.site.data_files import DataFileError, DataFiles, DataView
from siteserve.site.jinja_env import recording


def make(root: Path, files: dict[str, str]) -> DataFiles:
    folder = root / "_data"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return DataFiles(root)


def test_every_format_by_stem(tmp_path: Path) -> None:
    data = make(
        tmp_path,
        {
            "authors.json": '[{"name": "Ann"}]',
            "site.toml": 'title = "T"\n[nav]\nhome = "/"\n',
            "links.yaml": "- href: /a\n  text: A\n",
            "more.yml": "n: 2\n",
            "prices.csv": "\ufeffitem,price\ntea,3\ncake,4\n",
        },
    )
    assert data.get("authors") == [{"name": "Ann"}]
    assert data.get("site") == {"title": "T", "nav": {"home": "/"}}
    assert data.get("links") == [{"href": "/a", "text": "A"}]
    assert data.get("more") == {"n": 2}
    # The byte-order mark a spreadsheet writes does not end up in the first column's name.
    assert data.get("prices") == [{"item": "tea", "price": "3"}, {"item": "cake", "price": "4"}]
    assert sorted(data.names()) == ["authors", "links", "more", "prices", "site"]


def test_hidden_and_unknown_files_are_not_data(tmp_path: Path) -> None:
    data = make(tmp_path, {".x.json": "{}", "_y.json": "{}", "notes.txt": "hi", "ok.json": "1"})
    assert list(data.names()) == ["ok"]


def test_json_wins_when_two_files_share_a_stem(tmp_path: Path) -> None:
    data = make(tmp_path, {"a.yaml": "from: yaml", "a.json": '{"from": "json"}'})
    assert data.get("a") == {"from": "json"}


def test_a_changed_file_is_read_again_and_an_unchanged_one_is_not(tmp_path: Path) -> None:
    data = make(tmp_path, {"n.json": '{"v": 1}'})
    first = data.get("n")
    assert data.get("n") is first  # cached
    path = tmp_path / "_data/n.json"
    path.write_text('{"v": 22}')  # a different size: noticed even at the same mtime
    assert data.get("n") == {"v": 22}


def test_forget_catches_an_edit_that_kept_mtime_and_size(tmp_path: Path) -> None:
    data = make(tmp_path, {"n.json": '{"v": 1}'})
    path = tmp_path / "_data/n.json"
    assert data.get("n") == {"v": 1}
    before = path.stat()
    path.write_text('{"v": 2}')
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert data.get("n") == {"v": 1}
    data.forget([path])
    assert data.get("n") == {"v": 2}


def test_a_new_file_appears_and_a_missing_one_records_where_it_would_be(tmp_path: Path) -> None:
    data = make(tmp_path, {})
    with recording() as record, pytest.raises(KeyError):
        data.get("later")
    loaded = record.files
    folder = os.path.realpath(tmp_path / "_data")
    assert os.path.join(folder, "later.json") in loaded
    assert os.path.join(folder, "later.csv") in loaded
    (tmp_path / "_data/later.json").write_text("[1]")
    data.forget([tmp_path / "_data/later.json"])
    with recording() as record:
        assert data.get("later") == [1]
    assert record.files == {os.path.join(folder, "later.json")}


def test_no_data_folder_means_no_data(tmp_path: Path) -> None:
    data = DataFiles(tmp_path)
    assert data.names() == {}
    with pytest.raises(KeyError):
        data.get("x")


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("bad.json", '{"a": 1,,}'),
        ("bad.toml", "a = = 1"),
        ("bad.yaml", "a: [1, 2"),
    ],
)
def test_a_broken_file_names_itself(tmp_path: Path, name: str, text: str) -> None:
    data = make(tmp_path, {name: text})
    with pytest.raises(DataFileError, match=f"^_data/{name}: "):
        data.get("bad")


def test_a_file_that_is_not_utf8_names_itself(tmp_path: Path) -> None:
    data = make(tmp_path, {})
    (tmp_path / "_data/latin.csv").write_bytes(b"name\ncaf\xe9\n")
    with pytest.raises(DataFileError, match=r"^_data/latin\.csv: .*utf-8"):
        data.get("latin")


def test_yaml_never_builds_python_objects(tmp_path: Path) -> None:
    data = make(tmp_path, {"evil.yaml": "!!python/object/apply:os.system ['true']"})
    with pytest.raises(DataFileError):
        data.get("evil")


def test_a_symlink_out_of_the_site_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "site"
    (root / "_data").mkdir(parents=True)
    (tmp_path / "secret.json").write_text('{"key": "s3cret"}')
    (root / "_data/leak.json").symlink_to(tmp_path / "secret.json")
    with pytest.raises(DataFileError, match="outside the site"):
        DataFiles(root).get("leak")
    assert DataFiles(root, follow_symlinks=True).get("leak") == {"key": "s3cret"}


def test_the_view_pages_see(tmp_path: Path) -> None:
    view = DataView(make(tmp_path, {"items.json": "[1]", "keys.json": "[2]"}))
    assert view.items == [1]  # a stem named like a dict method still works
    assert view["keys"] == [2]
    assert "items" in view and "nope" not in view
    assert list(view) == ["items", "keys"]
    with pytest.raises(AttributeError):
        _ = view.nope
    with pytest.raises(AttributeError):
        _ = view._private


def test_one_render_checks_a_file_once_and_sees_one_version(tmp_path: Path) -> None:
    data = make(tmp_path, {"n.json": "1"})
    with recording():
        assert data.get("n") == 1
        (tmp_path / "_data/n.json").write_text("22")
        assert data.get("n") == 1  # the same render: the version it started with
        with pytest.raises(KeyError):
            data.get("absent")
        (tmp_path / "_data/absent.json").write_text("3")
        with pytest.raises(KeyError):
            data.get("absent")
    with recording():
        assert data.get("n") == 22  # the next render sees the change
        assert data.get("absent") == 3
