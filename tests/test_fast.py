"""The click-free path of the light commands says exactly what the click commands say."""

import subprocess
import sys

import pytest
from click.testing import CliRunner

from drills import fast
from drills.cli import cli

ARGVS = [
    ["today"],
    ["today", "--json"],
    ["today", "--minutes", "5", "--new", "1"],
    ["today", "--minutes=500", "--json"],
    ["list"],
    ["list", "--json"],
    ["status"],
    ["status", "--json"],
]


def test_click_commands_are_built_from_the_one_declaration():
    for command, options in fast.LIGHT.items():
        params = {p.opts[0]: p for p in cli.commands[command].params}
        assert set(params) == set(options), command
        for name, (kind, text) in options.items():
            p = params[name]
            assert p.name == fast.dest(name) and p.help == text
            if kind == "flag":
                assert p.is_flag
            else:
                assert (p.type.min, p.type.max) == kind


@pytest.mark.parametrize(
    "argv",
    [
        ["today", "--minutes"],
        ["today", "--minutes", "x"],
        ["today", "--json=1"],
        ["list", "--new", "2"],
        ["list", "--json", "--json"],
        ["start"],
        ["today", "extra"],
        ["today", "--minutes", "0"],
        ["today", "--minutes", "-10"],
        ["today", "--new", "100000"],
    ],
)
def test_anything_unusual_goes_to_click(argv):
    assert fast.parse(argv) is None


@pytest.mark.parametrize("argv", ARGVS)
def test_same_output_as_click(argv, capsys):
    assert fast.run(argv)
    quick = capsys.readouterr()
    slow = CliRunner().invoke(cli, argv, catch_exceptions=False)
    assert slow.exit_code == 0, slow.output
    assert quick.out == slow.stdout


def test_errors_are_one_line_as_click_prints_them(monkeypatch, capsys):
    monkeypatch.setenv("DRILL_NOW", "tomorrow")
    with pytest.raises(SystemExit) as stop:
        fast.run(["today"])
    assert stop.value.code == 1
    err = capsys.readouterr().err
    assert (
        err.startswith("Error: DRILL_NOW: not an ISO date-time")
        and err.count("\n") == 1
    )


def test_root_help_file_is_current_and_served_without_click(capsys):
    from drills.cli import root_help

    with open(fast.HELP_FILE, encoding="utf-8") as f:
        saved = f.read()
    assert saved == root_help(), "regenerate it: python -m drills.cli"
    assert "-h, --help" in saved and "abandon" in saved and "status" in saved
    assert fast.run(["-h"]) and capsys.readouterr().out == saved
    # no click on this path, in a real process
    code = (
        "import sys; from drills.fast import main; main(['--help']);"
        "assert 'click' not in sys.modules"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and done.stdout == saved, done.stderr


def test_bare_drill_shows_the_plan_and_exits_0(capsys):
    assert fast.run([])
    out = capsys.readouterr().out
    assert "plan:" in out and "`drill -h` lists every command" in out


def test_bad_option_values_get_click_errors():
    for argv in (["today", "--minutes", "-10"], ["today", "--minutes", "0"]):
        result = CliRunner().invoke(cli, argv)
        assert result.exit_code == 2 and "--minutes" in result.output
