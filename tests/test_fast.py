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
]


def test_options_in_step_with_click():
    for command, options in fast.LIGHT.items():
        params = cli.commands[command].params
        declared = {opt for p in params for opt in p.opts}
        takes_int = {opt for p in params for opt in p.opts if not p.is_flag}
        assert declared == set(options), command
        assert takes_int == {o for o, takes in options.items() if takes}, command


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
        [],
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


def test_root_help_is_cached_and_current(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert fast.cached_help() is None
    assert not fast.run(["--help"])  # a miss: click prints it, and it is saved
    fast.main(["--help"])
    first = capsys.readouterr().out
    assert fast.cached_help() is not None
    assert fast.run(["--help"])
    assert capsys.readouterr().out == first
    # click's own --help, in a real process (CliRunner forces another width)
    code = "from drills.cli import cli; cli.main(['--help'], prog_name='drill')"
    clicked = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert first == clicked.stdout
