"""Config: siteserve.toml and CLI options validated once, start-up errors as one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from siteserve.config import ConfigError, build_config


def write_toml(root: Path, text: str) -> Path:
    (root / "siteserve.toml").write_text(text, encoding="utf-8")
    return root


def test_defaults(tmp_path: Path) -> None:
    config = build_config(tmp_path)
    assert (config.host, config.port, config.reload, config.cache_seconds) == (
        "127.0.0.1",
        8000,
        True,
        None,
    )
    assert config.root == tmp_path.resolve()


def test_file_values_and_cli_overrides(tmp_path: Path) -> None:
    write_toml(
        tmp_path,
        '[server]\nport = 9000\nquiet = true\nrender = ["*.html"]\n'
        "[limits]\nheader-timeout = 2.5\n[site]\ntitle = 'T'\n",
    )
    config = build_config(tmp_path, port=9100, quiet=None)
    assert config.port == 9100
    assert config.quiet is True
    assert config.render == ("*.html",)
    assert config.limits.header_timeout == 2.5
    assert config.site["title"] == "T"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("server = 5", "[server] must be a table"),
        ("[server]\nport = true", "port must be a whole number"),
        ('[server]\nport = "80"', "port must be a whole number"),
        ('[server]\nquiet = "yes"', "quiet must be true or false"),
        ("[server]\nrender = [1]", "render must be a list of strings"),
        ("[server]\nbogus = 1", "unknown key bogus"),
        ("[limits]\nmax_body = -1", "limits.max_body must be a positive number"),
        ("[limits]\nmax_body = true", "limits.max_body must be a positive number"),
        ("[limits]\nnope = 1", "unknown key limits.nope"),
        ("limits = 3", "[limits] must be a table"),
        ("[server\n", "siteserve.toml"),
        ("[server]\nport = 70000", "port must be between 0 and 65535"),
    ],
)
def test_bad_files_are_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    write_toml(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        build_config(tmp_path)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_folder_and_file_instead_of_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="folder not found"):
        build_config(tmp_path / "nope")
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(ConfigError, match="not a folder"):
        build_config(tmp_path / "f.txt")


@pytest.mark.parametrize("text", ['colour = "x"', "[srever]\nport = 1", 'port = "x"'])
def test_unknown_top_level_keys_and_tables_are_errors(tmp_path: Path, text: str) -> None:
    write_toml(tmp_path, text)
    with pytest.raises(ConfigError, match="unknown key or table"):
        build_config(tmp_path)


def test_top_level_shortcuts_accept_dashes(tmp_path: Path) -> None:
    write_toml(tmp_path, 'strict-undefined = true\nrender = ["*.htm"]\n')
    config = build_config(tmp_path)
    assert config.strict_undefined is True
    assert config.render == ("*.htm",)


@pytest.mark.parametrize(
    ("option", "what"),
    [("cert", "certificate"), ("key", "private key"), ("auth_file", "auth file")],
)
def test_secrets_inside_the_served_folder_are_refused(
    tmp_path: Path, option: str, what: str
) -> None:
    (tmp_path / "cert.pem").write_text("x")
    (tmp_path / "key.pem").write_text("x")
    (tmp_path / "users.txt").write_text("ann:pw\n")
    names = {"cert": "cert.pem", "key": "key.pem", "auth_file": "users.txt"}
    text = "[server]\n" + "".join(f'{k} = "{v}"\n' for k, v in names.items() if k == option)
    if option in ("cert", "key"):  # the two go together
        text = '[server]\ncert = "_keep/cert.pem"\nkey = "_keep/key.pem"\n'.replace(
            f"_keep/{names[option]}", names[option]
        )
        (tmp_path / "_keep").mkdir()
        (tmp_path / "_keep" / "cert.pem").write_text("x")
        (tmp_path / "_keep" / "key.pem").write_text("x")
    write_toml(tmp_path, text)
    with pytest.raises(ConfigError, match=f"{what} .* would be served"):
        build_config(tmp_path)


def test_secrets_in_a_private_folder_are_fine(tmp_path: Path) -> None:
    (tmp_path / "_secrets").mkdir()
    (tmp_path / "_secrets" / "users.txt").write_text("ann:pw\n")
    write_toml(tmp_path, '[server]\nauth_file = "_secrets/users.txt"\n')
    assert build_config(tmp_path).auth


# -- read through the declarations (siteserve.options) -------------------------------------


def test_server_keys_accept_dashes(tmp_path: Path) -> None:
    write_toml(tmp_path, "[server]\nstrict-port = true\nopen-browser = true\ncache-seconds = 5\n")
    config = build_config(tmp_path)
    assert (config.strict_port, config.open_browser, config.cache_seconds) == (True, True, 5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[server]\nmax_upload = true", "max_upload must be a whole number or a string"),
        ("[server]\nauth = 5", "auth must be a string or a list, not 5"),
        ('[server]\nignore = "x"', "ignore must be a list, not 'x'"),
        ("[server]\ncert = 1", "cert must be a string, not 1"),
        ("[server]\nsessions = false", "sessions must be a string, not False"),
        ('[server]\nhost = ""', "host must not be empty"),
        ("[server]\ncache_seconds = -1", "cache seconds must be zero or more"),
        ('[server]\nmax_upload = "lots"', "not a size: 'lots'"),
        ("[server]\nroot = '/'", "unknown key root"),
        ("[server]\nlimits = 1", "unknown key limits"),
    ],
)
def test_each_key_is_checked_by_its_declared_kind(tmp_path: Path, text: str, message: str) -> None:
    write_toml(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        build_config(tmp_path)
    assert message in str(caught.value)


def test_repeatable_values_add_or_replace_as_declared(tmp_path: Path) -> None:
    write_toml(tmp_path, '[server]\nignore = ["a"]\nrender = ["*.htm"]\nauth = "ann:one"\n')
    config = build_config(tmp_path, ignore=("b",), render=("*.html",), auth=("bob:two",))
    assert config.ignore == ("a", "b")  # the command line adds to the file's globs
    assert config.render == ("*.htm", "*.html")
    assert [spec.split(":")[0] for spec in config.auth] == ["bob"]  # and replaces its users


def test_file_paths_in_siteserve_toml_are_in_the_site_folder(tmp_path: Path) -> None:
    (tmp_path / "_keys").mkdir()
    for name in ("c.pem", "k.pem"):
        (tmp_path / "_keys" / name).write_text("x")
    write_toml(tmp_path, '[server]\ncert = "_keys/c.pem"\nkey = "_keys/k.pem"\n')
    config = build_config(tmp_path)
    assert config.cert == tmp_path.resolve() / "_keys" / "c.pem"
    assert config.key == tmp_path.resolve() / "_keys" / "k.pem"
    assert config.tls  # one's own certificate means HTTPS


@pytest.mark.parametrize("text", ['sessions = "sessions.db"', '[server]\nsessions = "data/s.db"'])
def test_a_served_sessions_file_is_refused_at_start_up(tmp_path: Path, text: str) -> None:
    write_toml(tmp_path, text)
    with pytest.raises(ConfigError, match=r"sessions file .* would be served"):
        build_config(tmp_path)


def test_a_sessions_file_given_as_an_option_is_in_the_site_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"sessions file .* would be served"):
        build_config(tmp_path, sessions="s.db")
    assert build_config(tmp_path, sessions="_s.db").sessions == "_s.db"
    assert build_config(tmp_path, sessions=str(tmp_path.parent / "s.db")).sessions


def test_an_unknown_option_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="unknown option 'colour'"):
        build_config(tmp_path, colour="red")


def test_allowed_hosts_from_the_file_and_the_command_line(tmp_path: Path) -> None:
    write_toml(tmp_path, '[server]\nallowed_hosts = ["App.Test", ".example.com"]\n')
    config = build_config(tmp_path, allowed_hosts=("tunnel.example", "app.test"))
    # Normalised, and names from the command line added to those of the file.
    assert config.allowed_hosts == ("app.test", ".example.com", "tunnel.example")


@pytest.mark.parametrize("name", ["http://app.test", "app.test:8080", "a b", ""])
def test_a_bad_allowed_host_is_a_start_up_error(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match="--allowed-host"):
        build_config(tmp_path, allowed_hosts=(name,))


def test_cross_origin_writes_are_path_globs(tmp_path: Path) -> None:
    write_toml(tmp_path, '[server]\ncross_origin_writes = ["/api/*"]\n')
    assert build_config(tmp_path).cross_origin_writes == ("/api/*",)
    write_toml(tmp_path, '[server]\ncross_origin_writes = ["api/*"]\n')
    with pytest.raises(ConfigError, match="cross_origin_writes"):
        build_config(tmp_path)
    write_toml(tmp_path, '[server]\ncross_origin_writes = "/api/*"\n')
    with pytest.raises(ConfigError, match="cross_origin_writes must be a list"):
        build_config(tmp_path)
