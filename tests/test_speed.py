"""Speed feedback for kernel cards, end to end on the CPU: a toy card whose speed test uses the
kit's `measure` with a fake timer (the real one needs a GPU), graded through `drill check`,
and shown by `drill list` and `drill report`."""

import json
import shutil

import pytest
from click.testing import CliRunner
from conftest import TOY_CARDS

from drills.cli import cli

VERIFY = """
import pytest

from cards.speed import measure


def test_value(impl, device):
    assert impl.value() == 42, "value() must be 42"


def test_speed(impl, device, speed_report):
    calls = []

    def recheck():
        calls.append(1)
        assert impl.value() == 42, "after the timing, on fresh inputs: value() must be 42"

    measure(speed_report, impl.milliseconds, lambda: 2.0, work=4e6, unit="GB/s",
            recheck=recheck, timer=lambda fn: fn())
    assert calls, "the recheck ran"
"""


def attempt(tmp_path, name, ms, value=42):
    path = tmp_path / f"{name}.py"
    path.write_text(
        f"def value():\n    return {value}\n\ndef milliseconds():\n    return {ms}\n"
    )
    return path


@pytest.fixture
def speedy(tmp_path, monkeypatch):
    bank = tmp_path / "bank"
    shutil.copytree(TOY_CARDS, bank)
    card = bank / "toy" / "speedy"
    shutil.copytree(bank / "toy" / "scale", card)
    toml = (
        (card / "card.toml").read_text().replace('"Scale (test fixture)"', '"Speedy"')
    )
    (card / "card.toml").write_text(toml + "min_speedup = 0.5\n")
    (card / "verify.py").write_text(VERIFY)
    (card / "reference.py").write_text(
        "def value():\n    return 42\n\ndef milliseconds():\n    return 1.0\n"
    )
    monkeypatch.setenv("DRILL_CARDS", str(bank))
    monkeypatch.setenv("DRILL_WARM", "0")
    return card


def check(path):
    result = CliRunner().invoke(cli, ["check", str(path), "--card", "speedy", "--json"])
    return result.exit_code, json.loads(result.output)


def test_a_pass_reports_its_speed_and_list_shows_the_best(speedy, tmp_path):
    code, v = check(attempt(tmp_path, "fast", 1.0))  # 2 ms for torch, 1 ms here
    assert (code, v["status"]) == (0, "pass"), v
    assert v["speed"]["speedup"] == 2.0 and v["speed"]["band"] == "vendor-class"
    assert v["speed"]["attempt"] == pytest.approx(4.0) and v["speed"]["unit"] == "GB/s"
    check(attempt(tmp_path, "slower", 3.0))  # 0.67x: a pass, but not the best
    listed = CliRunner().invoke(cli, ["list"]).output
    assert "best speed" in listed and "2.00x torch, vendor-class" in listed
    rows = json.loads(CliRunner().invoke(cli, ["list", "--json"]).output)
    assert next(r for r in rows if r["slug"] == "speedy")["speed"]["speedup"] == 2.0
    assert next(r for r in rows if r["slug"] == "scale")["speed"] is None
    report = CliRunner().invoke(cli, ["report"]).output
    assert "Kernel cards, best pass on a GPU:" in report
    assert "speedy: speed: 4 GB/s against torch's 2" in report
    figures = json.loads(CliRunner().invoke(cli, ["report", "--json"]).output)
    assert figures["kernel_speeds"]["speedy"]["speedup"] == 2.0
    text = CliRunner().invoke(
        cli, ["check", str(tmp_path / "fast.py"), "--card", "speedy"]
    )
    assert (
        "speed: 4 GB/s against torch's 2 on the same inputs (2.00x): vendor-class"
        in (text.output)
    )


def test_below_the_speed_bar_fails_and_the_prompt_states_the_bar(speedy, tmp_path):
    code, v = check(attempt(tmp_path, "slow", 5.0))  # 0.4x, the bar is 0.5x
    assert (code, v["status"]) == (1, "fail")
    failed = [t for t in v["tests"] if t["status"] == "failed"]
    assert [t["name"] for t in failed] == ["test_speed[cpu]"]
    assert (
        "speed bar" in failed[0]["message"] and "at least 0.5x" in failed[0]["message"]
    )
    shown = CliRunner().invoke(cli, ["show", "speedy"]).output
    assert "Speed bar" in shown and "0.5x as fast as torch" in shown


def test_implausible_speed_is_flagged_and_a_cached_answer_fails(speedy, tmp_path):
    code, v = check(attempt(tmp_path, "cheat", 0.01))  # 200x torch: a pass, flagged
    assert code == 0 and v["speed"]["band"] == "flagged"
    assert "not plausible" in v["speed"]["note"]
    code, v = check(attempt(tmp_path, "wrong", 1.0, value=41))
    assert (code, v["status"]) == (1, "fail") and "speed" not in v
