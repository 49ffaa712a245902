"""The option declarations: well formed, in step with Config, and the README says what they say.

Whoever adds an option and forgets the README fails here; ``python -m
siteserve.options`` prints the table to paste into "## Usage".
"""

from __future__ import annotations

import re
from dataclasses import MISSING, fields
from pathlib import Path

import pytest

from siteserve.config import Config, ConfigError, Limits
from siteserve.options import (
    BY_NAME,
    OPTIONS,
    OTHER_TABLES,
    Credentials,
    File,
    FileKind,
    Flag,
    Option,
    SiteFile,
    Size,
    Text,
    Texts,
    Whole,
    Workers,
    flag_spelling,
    for_command,
    markdown_table,
    on_command_line,
    parse_duration,
    toml_tables,
)

README = Path(__file__).resolve().parents[2] / "README.md"

#: Config fields that are no option: the folder, and the tables config.py reads itself.
NOT_OPTIONS = {"root", "limits", "site", "headers", "markdown", "redirects"}


def _readme() -> str:
    return README.read_text(encoding="utf-8")


def _readme_table() -> str:
    text = _readme()
    start = text.index("| option |", text.index("## Usage"))
    return text[start : text.index("\n\n", start)]


def _readme_toml() -> str:
    text = _readme()
    start = text.index("```toml\n", text.index("## siteserve.toml")) + len("```toml\n")
    return text[start : text.index("```", start)]


def _readme_toml_table(name: str) -> list[str]:
    """The lines of one table of the README's siteserve.toml example (commented keys too)."""
    lines = _readme_toml().splitlines()
    start = lines.index(f"[{name}]") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("[")), len(lines))
    return [line for line in lines[start:end] if line.strip()]


# -- the README ------------------------------------------------------------------------------


def test_readme_options_table_is_the_declared_one() -> None:
    assert _readme_table() == markdown_table(), (
        "README.md's options table differs from siteserve/options.py: paste the output of"
        " `python -m siteserve.options` into its Usage section"
    )


def test_readme_server_example_has_every_declared_key_and_no_other() -> None:
    keys: dict[str, str] = {}
    for line in _readme_toml_table("server"):
        match = re.match(r"#?\s*([a-z_]+) = (.*)", line)
        assert match, f"not a key line in README's [server] example: {line!r}"
        keys[match.group(1)] = match.group(2)
    declared = {option.name for option in OPTIONS if option.table == "server"}
    assert set(keys) == declared
    # Each line's comment names the flag that sets the same thing on the command line.
    for name, rest in keys.items():
        long_flags = [flag for flag in BY_NAME[name].flags if flag.startswith("--")]
        for flag in long_flags:
            assert flag in rest, f"README's [server] {name} line does not name {flag}"


def test_readme_limits_example_has_every_limit() -> None:
    keys = {line.split("=")[0].strip() for line in _readme_toml_table("limits")}
    assert keys == {f.name for f in fields(Limits)}


def test_readme_names_the_top_level_keys_and_the_file_paths() -> None:
    text = _readme()
    start = text.index("## siteserve.toml")
    section = " ".join(text[start : text.index("```toml", start)].split())
    top = re.search(r"((?:`\w+`(?:, | and ))+`\w+`) may also stand at the top", section)
    assert top is not None
    assert set(re.findall(r"`(\w+)`", top.group(1))) == {o.name for o in OPTIONS if o.top_level}
    paths = re.search(r"File paths \(([^)]*)\) are relative to the site folder", section)
    assert paths is not None
    files = {o.name for o in OPTIONS if isinstance(o.kind, FileKind)}
    assert set(re.findall(r"`(\w+)`", paths.group(1))) == files


def test_flag_spelling_puts_short_forms_first_and_the_metavar_on_the_long_one() -> None:
    assert flag_spelling(BY_NAME["port"]) == "`-p`, `--port N`"
    assert flag_spelling(BY_NAME["quiet"]) == "`-q`, `--quiet`"
    assert flag_spelling(BY_NAME["auth"]) == "`--auth USER:PASSWORD`"


# -- in step with Config ------------------------------------------------------------------------


def test_every_option_fills_a_config_field_with_the_same_default() -> None:
    config_fields = {f.name: f for f in fields(Config)}
    assert set(BY_NAME) == set(config_fields) - NOT_OPTIONS
    for option in OPTIONS:
        declared = config_fields[option.name]
        assert declared.default is not MISSING, option.name
        assert declared.default == option.default, option.name


# -- well formed --------------------------------------------------------------------------------


def test_names_and_flags_are_unique_and_well_spelled() -> None:
    assert len(BY_NAME) == len(OPTIONS)
    flags = [flag for option in OPTIONS for flag in option.flags]
    assert len(flags) == len(set(flags))
    for option in OPTIONS:
        assert re.fullmatch(r"[a-z][a-z_]*", option.name)
        for flag in option.flags:
            assert re.fullmatch(r"--[a-z][a-z-]+|-[a-z]", flag), flag
        if option.flags:
            assert option.flags[0].startswith("--"), "long flag first"
            assert option.help_text().endswith("."), option.name
        # A switch takes no value, so it has no metavar; anything else needs one.
        assert (option.metavar is None) == (isinstance(option.kind, Flag) or not option.flags)
        assert option.flags or option.table, f"{option.name} can be given nowhere"
        assert not option.top_level or option.table == "server"
        assert not option.adds or option.kind.many
        assert "{default}" not in option.help_text() + option.doc_text()
        if "{default}" in option.help + option.doc:
            assert option.default_text != "None", f"{option.name} needs a shown_default"


def test_toml_tables_lists_the_options_tables_then_the_others() -> None:
    assert toml_tables() == ("server", "build", *OTHER_TABLES)


def test_every_option_is_on_the_serve_or_the_build_command() -> None:
    build_only = {"output", "layout", "precompress", "strict", "force", "jobs", "paths"}
    build_only |= {"base_url", "missing"}
    assert {o.name for o in for_command("serve")} == {o.name for o in OPTIONS} - build_only
    assert {o.name for o in for_command("build")} == build_only | {"drafts", "spa"}
    on_cli = on_command_line(OPTIONS)
    assert {o.name for o in OPTIONS} - {o.name for o in on_cli} == {
        "render",
        "strict_undefined",
        "sessions",
        "paths",
        "missing",
        "cross_origin_writes",  # a site's own API paths: siteserve.toml only
    }


def test_a_command_picks_the_options_declared_for_it() -> None:
    both = Option(
        "drafts", Flag(), False, "Drafts too.", flags=("--drafts",), commands=("serve", "build")
    )
    out = Option("out", Text(), "dist", "Write here.", flags=("--out", "-o"), commands=("build",))
    declared = (BY_NAME["port"], both, out)
    assert for_command("serve", declared) == (BY_NAME["port"], both)
    assert for_command("build", declared) == (both, out)


def test_help_and_doc_show_the_default() -> None:
    assert BY_NAME["port"].help_text().startswith("Port to listen on [default: 8000];")
    assert "[default: 1G]" in BY_NAME["max_upload"].help_text()
    assert "[default: always revalidate]" in BY_NAME["cache_seconds"].help_text()
    assert "default `127.0.0.1`" in BY_NAME["host"].doc_text()
    # Without a README text of its own, the help line is it.
    assert BY_NAME["render"].doc_text() == BY_NAME["render"].help_text()


# -- the kinds of value ---------------------------------------------------------------------------


def test_whole_numbers_are_checked_against_their_bounds() -> None:
    port = Whole("port must be between 0 and 65535, not {value}", maximum=65535)
    assert port.parse(0) == 0 and port.parse(65535) == 65535
    for bad in (-1, 65536, True):
        with pytest.raises(ConfigError, match=f"not {bad}$"):
            port.parse(bad)
    with pytest.raises(ConfigError, match="zero or more"):
        Whole("cache seconds must be zero or more").parse(-5)


def test_text_and_texts() -> None:
    assert Text().parse("") == ""
    with pytest.raises(ConfigError, match="host must not be empty"):
        Text(empty="host must not be empty").parse("")
    assert Texts().parse(["a", "b"]) == ("a", "b")
    assert Texts().parse(("a",)) == ("a",)
    assert Credentials().parse("me:pw") == ("me:pw",)  # siteserve.toml may give one string


def test_sizes_and_files() -> None:
    assert Size().parse("2M") == 2 * 1024**2
    assert Size().parse(10) == 10
    with pytest.raises(ConfigError, match="not a size"):
        Size().parse(1.5)
    root = Path("/srv/site")
    assert File(secret="s").from_toml("_keys/k.pem", root) == root / "_keys/k.pem"
    assert File(secret="s").from_toml("/etc/k.pem", root) == Path("/etc/k.pem")
    assert File(secret="s").parse("k.pem") == Path("k.pem")  # the command line's: as given
    assert SiteFile(secret="s").parse("_s.db") == "_s.db"
    assert SiteFile(secret="s").location(root, "_s.db") == root / "_s.db"


def test_flags_give_what_they_set_or_nothing() -> None:
    assert BY_NAME["quiet"].cli_value(True) is True
    assert BY_NAME["quiet"].cli_value(False) is None
    assert BY_NAME["reload"].cli_value(True) is False  # --no-reload
    assert BY_NAME["ignore"].cli_value(["a", "b"]) == ("a", "b")
    assert BY_NAME["ignore"].cli_value(None) is None
    assert BY_NAME["port"].cli_value(None) is None
    assert BY_NAME["port"].cli_value(0) == 0


def test_workers_written_in_non_ascii_digits_is_a_config_error() -> None:
    # "\xb2" (superscript two) passes str.isdigit() and int() refuses it: a start-up
    # error must be a ConfigError (one line), never a traceback.
    with pytest.raises(ConfigError, match="workers must be a whole number of 1 or more"):
        Workers().parse("\xb2")


def test_a_duration_that_is_not_a_number_is_refused() -> None:
    # TOML spells nan; a NaN timeout would go into the event loop's timer heap unnoticed.
    with pytest.raises(ConfigError, match="duration"):
        parse_duration(float("nan"))
