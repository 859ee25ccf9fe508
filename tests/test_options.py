"""Options: CLI > ini > environment > default, bad values named at start-up."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, get_args, get_origin, get_type_hints

import pytest

from conftest import ROOT
from pytest_experiment.base.errors import OptionError
from pytest_experiment.core import option_parsers as values
from pytest_experiment.core.option_parsers import Choice
from pytest_experiment.core.option_table import OPTION_SPECS, SPECS_BY_DEST, resolve
from pytest_experiment.core.options import Options


def _readme_options() -> dict[str, tuple[str, str, str]]:
    """The README's options table, by ini name: (flag, ini, environment variable)."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("\n## Options\n") :]
    section = section[: section.index("\n## ", 1)]
    rows = re.findall(
        r"^\| `(--experiment-[a-z0-9-]+)[^`]*` \| `([a-z0-9_]+)` \| `([A-Z0-9_]+)` \|",
        section,
        re.M,
    )
    return {ini: (flag, ini, env) for flag, ini, env in rows}


def test_every_option_has_flag_ini_and_env_twins(pytester: pytest.Pytester) -> None:
    # Held against what a user meets rather than how the names are made: the README's
    # table, pytest's own --help (the flags and ini keys the plugin registered) and the
    # environment variable resolve() reads. A twin dropped anywhere fails here.
    documented = _readme_options()
    assert sorted(f"experiment_{f}" for f in Options.__dataclass_fields__) == sorted(documented)
    shown = pytester.runpytest_inprocess("--help", "-p", "no:cacheprovider").stdout.str()
    flags = set(re.findall(r"^  (--experiment-[a-z0-9-]+)", shown, re.M))
    inis = set(re.findall(r"^  (experiment_[a-z0-9_]+) ", shown, re.M))
    for flag, ini, env in documented.values():
        assert flag in flags, flag
        assert ini in inis, ini
        dest = ini.removeprefix("experiment_")
        # "x" is a value every option reads: it either changes the option or is refused
        # naming the variable it came from; an ignored variable does neither.
        try:
            read = resolve(cli={}, ini={}, env={env: "x"}, cwd=pytester.path, inidir=pytester.path)
        except OptionError as err:
            refused = str(err)
            assert refused.startswith(f"{env}: "), refused
        else:
            assert getattr(read, dest) != getattr(Options(), dest), env
    assert len(flags) == len(documented)


def test_precedence_cli_over_ini_over_env(tmp_path: Path) -> None:
    for name in ("cli", "ini", "env"):
        (tmp_path / name).mkdir()
    both = {"site_data": "ini"}
    env = {"EXPERIMENT_SITE_DATA": str(tmp_path / "env")}
    got = resolve(cli={"site_data": "cli"}, ini=both, env=env, cwd=tmp_path, inidir=tmp_path)
    assert got.site_data == tmp_path / "cli"
    got = resolve(cli={}, ini=both, env=env, cwd=tmp_path, inidir=tmp_path)
    assert got.site_data == tmp_path / "ini"
    got = resolve(cli={}, ini={}, env=env, cwd=tmp_path, inidir=tmp_path)
    assert got.site_data == tmp_path / "env"
    assert resolve(cli={}, ini={}, env={}, cwd=tmp_path, inidir=tmp_path) == Options()


def test_relative_paths_anchor_where_they_were_written(tmp_path: Path) -> None:
    (tmp_path / "inidir" / "data").mkdir(parents=True)
    (tmp_path / "cwd" / "data").mkdir(parents=True)
    got = resolve(
        cli={},
        ini={"site_data": "data"},
        env={},
        cwd=tmp_path / "cwd",
        inidir=tmp_path / "inidir",
    )
    assert got.site_data == tmp_path / "inidir" / "data"
    got = resolve(
        cli={"site_data": "data"},
        ini={},
        env={},
        cwd=tmp_path / "cwd",
        inidir=tmp_path / "inidir",
    )
    assert got.site_data == tmp_path / "cwd" / "data"


@pytest.mark.parametrize(
    ("cli", "ini", "env", "named"),
    [
        ({"results": "nope"}, {}, {}, "--experiment-results: 'nope' does not exist"),
        ({}, {"components_dir": "nope"}, {}, "ini option experiment_components_dir: 'nope'"),
        ({}, {}, {"EXPERIMENT_SITE_DATA": "nope"}, "EXPERIMENT_SITE_DATA: 'nope' does not exist"),
    ],
)
def test_bad_values_name_the_option_and_its_source(
    tmp_path: Path, cli: dict[str, str], ini: dict[str, str], env: dict[str, str], named: str
) -> None:
    with pytest.raises(OptionError, match=named):
        resolve(cli=cli, ini=ini, env=env, cwd=tmp_path, inidir=tmp_path)


def test_bad_option_fails_pytest_at_start_up(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--experiment-results=missing.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--experiment-results: 'missing.json' does not exist*"])


def test_switches_read_booleans_from_ini_and_env(tmp_path: Path) -> None:
    on = resolve(cli={}, ini={}, env={"EXPERIMENT_SANDBOX": "yes"}, cwd=tmp_path, inidir=tmp_path)
    assert on.sandbox is True
    off = resolve(
        cli={},
        ini={"sandbox": "false"},
        env={"EXPERIMENT_SANDBOX": "1"},
        cwd=tmp_path,
        inidir=tmp_path,
    )
    assert off.sandbox is False
    with pytest.raises(OptionError, match="EXPERIMENT_SANDBOX: 'maybe' is not a boolean"):
        resolve(cli={}, ini={}, env={"EXPERIMENT_SANDBOX": "maybe"}, cwd=tmp_path, inidir=tmp_path)


def test_help_lists_every_option_with_its_twins(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    text = " ".join(result.stdout.str().split())
    for spec in OPTION_SPECS:
        assert spec.flag in text
        assert f"[ini: {spec.ini}; env: {spec.env}]" in text


def _one(tmp_path: Path, **cli: str) -> Options:
    return resolve(cli=cli, ini={}, env={}, cwd=tmp_path, inidir=tmp_path)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90.0), ("20m", 1200.0), ("1h30m", 5400.0), ("45", 45.0), ("none", None),
     ("0", None)],
)  # fmt: skip
def test_budgets_read_durations(tmp_path: Path, text: str, seconds: float | None) -> None:
    assert _one(tmp_path, budget_ready=text).budget("Ready") == seconds


def test_default_budgets_are_the_seeds(tmp_path: Path) -> None:
    options = _one(tmp_path)
    assert [options.budget(p) for p in ("Pending", "Provisioning", "Ready", "Running")] == [
        1200.0, 1200.0, 600.0, None,
    ]  # fmt: skip
    assert (options.on_timeout, options.max_extensions, options.cleanup) == (
        "fail",
        1,
        "on-success",
    )


@pytest.mark.parametrize(
    ("cli", "named"),
    [
        (
            {"budget_pending": "20 minutes"},
            "--experiment-budget-pending: '20 minutes' is not a dur",
        ),
        ({"budget_running": "-5"}, "--experiment-budget-running: '-5' must be positive"),
        ({"on_timeout": "retry"}, "--experiment-on-timeout: 'retry' is not one of fail, extend"),
        ({"cleanup": "sometimes"}, "--experiment-cleanup: 'sometimes' is not one of on-success"),
        ({"max_concurrent": "two"}, "--experiment-max-concurrent: 'two' is not a whole number"),
        ({"instance": "web-latency"}, "--experiment-instance: 'web-latency' is not <experiment>="),
        ({"instance": "a=x,a=y"}, "experiment 'a' is given two instances"),
    ],
)
def test_bad_live_options_name_the_option(tmp_path: Path, cli: dict[str, str], named: str) -> None:
    with pytest.raises(OptionError, match=named):
        _one(tmp_path, **cli)


def test_attach_pairs_from_repeated_flags(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        "from pytest_experiment.plugin.state import STATE\n"
        "def pytest_report_header(config):\n"
        "    return repr(config.stash[STATE].options.attach)\n"
    )
    result = pytester.runpytest(
        "--experiment-instance", "a=a-x1", "--experiment-instance", "b=b-y2", "--co"
    )
    result.stdout.fnmatch_lines(["{'a': 'a-x1', 'b': 'b-y2'}"])


def test_toil_takes_on_and_off(tmp_path: Path) -> None:
    assert _one(tmp_path, toil="off").toil is False
    assert _one(tmp_path).toil is True


def test_the_readme_option_table_is_one_table_with_every_option() -> None:
    # A blank line inside a Markdown table ends it: the rows after it render as text.
    lines = (Path(__file__).resolve().parents[1] / "README.md").read_text().splitlines()
    start = lines.index("| option | ini | environment | default | what |")
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append(line)
    flags = {row.split("`")[1].split()[0] for row in table[2:]}
    assert flags == {spec.flag for spec in OPTION_SPECS}
    for row in table[2:]:
        flag = row.split("`")[1].split()[0]
        spec = next(s for s in OPTION_SPECS if s.flag == flag)
        assert f"`{spec.ini}`" in row, row
        assert f"`{spec.env}`" in row, row


def test_choice_options_take_exactly_the_values_of_their_literal_type() -> None:
    hints = get_type_hints(Options)
    choices = {s.dest: s.parse for s in OPTION_SPECS if isinstance(s.parse, Choice)}
    assert set(choices) == {"on_timeout", "cleanup", "autofix", "review", "reproducibility"}
    for dest, parse in choices.items():
        assert get_origin(hints[dest]) is Literal
        assert parse.choices == get_args(hints[dest])
        assert getattr(Options(), dest) in parse.choices


def test_help_names_the_default_the_dataclass_has() -> None:
    assert SPECS_BY_DEST["budget_pending"].help.endswith(" Default: 20m.")
    assert SPECS_BY_DEST["budget_running"].help.endswith(" Default: none.")
    assert SPECS_BY_DEST["budget_delete"].help.endswith(" Default: 1m.")
    assert SPECS_BY_DEST["cleanup"].help.endswith(" Default: on-success.")
    assert SPECS_BY_DEST["toil"].help.endswith(" Default: on.")
    assert SPECS_BY_DEST["namespace"].help.endswith(" Default: experiments.")
    for spec in OPTION_SPECS:
        assert spec.what.endswith("."), spec.dest
        assert spec.help.lower().count("default") == 1, spec.help


def test_every_default_in_the_help_reads_back_as_the_default() -> None:
    for spec in OPTION_SPECS:
        if spec.unset is None:
            assert spec.parse(spec.default_text, Path()) == spec.default, spec.dest


def test_an_option_taking_a_value_names_it_in_one_word_and_an_empty_default_says_what_happens() -> (
    None
):
    for spec in OPTION_SPECS:
        if not spec.is_flag:
            assert spec.metavar, spec.dest
            assert re.fullmatch(r"[A-Za-z|=]+", spec.metavar), spec.dest
        if spec.parse not in (values.duration, values.lease) and spec.default in (None, ()):
            assert spec.unset, spec.dest
            assert spec.unset.strip() == spec.unset, spec.dest
            assert spec.help.endswith(f" Default: {spec.unset}."), spec.dest


@pytest.mark.parametrize("text", ["1", "true", "YES", " on "])
def test_each_word_for_on_reads_as_true(text: str) -> None:
    assert values.boolean(text, Path()) is True


@pytest.mark.parametrize("text", ["0", "false", "No", " off "])
def test_each_word_for_off_reads_as_false(text: str) -> None:
    assert values.boolean(text, Path()) is False


def test_a_url_needs_http_or_https_a_host_and_a_port_above_zero() -> None:
    assert values.url(" http://127.0.0.1:8333 ", Path()) == "http://127.0.0.1:8333"
    assert values.url("https://s3.example.com", Path()) == "https://s3.example.com"
    assert values.url("http://h:1", Path()) == "http://h:1"
    for bad in ("ftp://h:1", "http://", "http://h:0", "http://h:99999"):
        with pytest.raises(ValueError, match="is not a URL"):
            values.url(bad, Path())


def test_a_lease_must_be_there_and_above_zero() -> None:
    assert values.lease("1s", Path()) == 1
    for bad in ("0", "none"):
        with pytest.raises(ValueError, match="above zero"):
            values.lease(bad, Path())


def test_a_percentage_is_read_as_a_percentage_or_a_fraction_strictly_between_0_and_1() -> None:
    assert values.percent("10%", Path()) == pytest.approx(0.1)
    assert values.percent("0.1", Path()) == pytest.approx(0.1)
    assert values.percent("99%", Path()) == pytest.approx(0.99)
    for bad in ("0%", "100%", "1", "1.5", "0"):
        with pytest.raises(ValueError, match="above 0% and below 100%"):
            values.percent(bad, Path())


def test_dollars_are_read_with_a_sign_and_commas_and_infinity_is_refused() -> None:
    assert values.dollars("$1,200.50", Path()) == 1200.5
    assert values.dollars("0", Path()) == 0
    for bad in ("inf", "-1", "nan"):
        with pytest.raises(ValueError, match="non-negative amount of dollars"):
            values.dollars(bad, Path())


def test_a_new_file_in_a_writable_directory_can_be_written_appended_or_not(tmp_path: Path) -> None:
    assert values.unwritable(tmp_path / "new.txt") is None
    assert values.unwritable(tmp_path / "new.txt", appended=True) is None
    assert values.unwritable(tmp_path / "a" / "b" / "new.txt") is None
    assert values.unwritable(tmp_path) == "it is a directory"
    (tmp_path / "old.txt").write_text("")
    assert values.unwritable(tmp_path / "old.txt", appended=True) is None


def test_by_default_there_is_no_limit_on_experiments_at_once(tmp_path: Path) -> None:
    options = resolve(cli={}, ini={}, env={}, cwd=tmp_path, inidir=tmp_path)
    assert options.max_concurrent == 0
    assert SPECS_BY_DEST["max_concurrent"].help.endswith("(0: no limit). Default: 0.")


def test_each_choice_option_takes_these_words() -> None:
    from pytest_experiment.core import options as module

    assert get_args(module.OnTimeout) == ("fail", "extend", "abort")
    assert get_args(module.CleanupPolicy) == ("on-success", "always", "never")
    assert get_args(module.AutofixMode) == ("off", "suggest", "apply")
    assert get_args(module.ReviewAction) == ("skip", "approve", "reject", "auto")
    assert get_args(module.ReproducibilityMode) == ("warn", "fail")


def test_each_default_the_readme_writes_as_a_value_is_the_default() -> None:
    from pytest_experiment.core.durations import parse_duration

    text = (ROOT / "README.md").read_text()
    section = text[text.index("\n## Options\n") :]
    section = section[: section.index("\n## ", 1)]
    written = dict(
        re.findall(
            r"^\| `(--experiment-[a-z0-9-]+)[^`]*` \| `[a-z0-9_]+` \| `[A-Z0-9_]+` \| "
            r"`([^`|]+)` \|",
            section,
            re.M,
        )
    )
    assert len(written) >= 20
    for spec in OPTION_SPECS:
        if spec.flag not in written:
            continue
        if spec.parse in (values.duration, values.lease):
            assert parse_duration(written[spec.flag]) == spec.default, spec.flag
        else:
            assert written[spec.flag] == spec.default_text, spec.flag
