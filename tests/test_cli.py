"""The drill loop through the CLI (click's CliRunner), on the toy card bank."""

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ATTEMPTS

from drills.cli import cli
from engine import paths


def run(*args, env=None, ok=True):
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    if ok is not None:
        assert (result.exit_code == 0) == ok, result.output
    return result


def rows(sql):
    conn = sqlite3.connect(paths.db_path())
    conn.row_factory = sqlite3.Row
    return [dict(r) for r in conn.execute(sql)]


def all_commands(group, prefix=()):
    for name, command in group.commands.items():
        yield (*prefix, name), command
        if hasattr(command, "commands"):
            yield from all_commands(command, (*prefix, name))


def test_every_command_has_help():
    for path, command in all_commands(cli):
        assert command.help, f"`drill {' '.join(path)}` has no help"
        assert "Usage" in run(*path, "--help").output


def test_today_introduces_new_cards(toy_cards):
    out = run("today").output
    assert (
        "add_scaled" in out
        and "new" in out
        and "asked in est. ~50% of interviews" in out
    )
    data = json.loads(run("today", "--json").output)
    assert data["plan"][0]["card"] == "add_scaled" and data["plan"][0]["kind"] == "new"


def test_full_loop_pass_on_first_check(toy_cards, tmp_path):
    started = json.loads(run("start", "--dir", str(tmp_path), "--json").output)
    path = Path(started["path"])
    text = path.read_text()
    assert "Add scaled" in text and "Target: 5 min" in text and "Deadline 09:05" in text
    assert rows("select card, ended_at from attempts") == [
        {"card": "add_scaled", "ended_at": None}
    ]
    path.write_text(text.replace("raise NotImplementedError", "return x + alpha * y"))
    out = run("check", env={"DRILL_NOW": "2026-11-29T09:03:00+00:00"}).output
    assert "PASS" in out and "quality 5" in out and "Next review 2026-11-30" in out
    attempt = rows("select outcome, quality from attempts")[0]
    assert attempt == {"outcome": "pass", "quality": 5}
    schedule = rows("select repetitions, interval, ease_x100, due from schedule")
    assert schedule == [
        {"repetitions": 1, "interval": 1, "ease_x100": 260, "due": "2026-11-30"}
    ]
    assert "1  add_scaled  new   5m    done" in run("today").output
    assert "2  scale       new   5m          new" in run("today").output
    # tomorrow it is due again
    out = run("today", env={"DRILL_NOW": "2026-11-30T10:00:00+00:00"}).output
    assert "due today" in out


def test_failed_checks_then_pass_late(toy_cards, tmp_path):
    path = Path(
        json.loads(run("start", "--dir", str(tmp_path), "--json").output)["path"]
    )
    path.write_text((ATTEMPTS / "partial.py").read_text())
    out = run("check", ok=False, env={"DRILL_NOW": "2026-11-29T09:02:00+00:00"}).output
    assert "FAIL" in out and "alpha must scale y" in out and "2/3 tests passed" in out
    path.write_text(path.read_text().replace("x + y", "x + alpha * y"))
    out = run("check", env={"DRILL_NOW": "2026-11-29T09:10:00+00:00"}).output
    assert "quality 3" in out and "once more today" not in out  # a slow pass is a pass
    assert [r["status"] for r in rows("select status from checks")] == ["fail", "pass"]
    later = run("today", env={"DRILL_NOW": "2026-11-29T11:00:00+00:00"}).output
    assert "again" not in later and "10 min spent" in later


def test_giveup_shows_reference_and_grades(toy_cards, tmp_path):
    path = Path(
        json.loads(run("start", "--dir", str(tmp_path), "--json").output)["path"]
    )
    path.write_text((ATTEMPTS / "partial.py").read_text())
    run("check", ok=False)
    out = run("giveup").output
    assert "return x + alpha * y" in out and "quality 2" in out
    assert rows("select quality, source from reviews") == [
        {"quality": 2, "source": "giveup"}
    ]


def test_quality_override(toy_cards, tmp_path):
    path = Path(
        json.loads(run("start", "--dir", str(tmp_path), "--json").output)["path"]
    )
    path.write_text(
        (ATTEMPTS / "partial.py").read_text().replace("x + y", "x + alpha * y")
    )
    run("check", "--quality", "4")
    assert rows("select quality, source from reviews") == [
        {"quality": 4, "source": "override"}
    ]


def test_check_json_no_record_changes_nothing(toy_cards):
    result = run(
        "check",
        str(ATTEMPTS / "partial.py"),
        "--card",
        "add_scaled",
        "--json",
        "--no-record",
        ok=False,
    )
    verdict = json.loads(result.stdout)
    assert list(verdict) == [
        "card",
        "status",
        "passed",
        "failed",
        "tests",
        "duration_s",
        "device",
    ]
    assert (verdict["status"], verdict["passed"], verdict["failed"]) == ("fail", 2, 1)
    assert not Path(paths.db_path()).exists() or rows("select * from checks") == []


def test_solution_only_after_an_attempt(toy_cards, tmp_path):
    assert "no attempt" in run("solution", "add_scaled", ok=False).output
    run("start", "add_scaled", "--dir", str(tmp_path))
    assert "return x + alpha * y" in run("solution", "add_scaled").output


def test_start_twice_resumes(toy_cards, tmp_path):
    first = json.loads(
        run("start", "add_scaled", "--dir", str(tmp_path), "--json").output
    )
    again = json.loads(
        run("start", "add_scaled", "--dir", str(tmp_path), "--json").output
    )
    assert again["resumed"] and again["path"] == first["path"]


@pytest.mark.parametrize(
    "args, words",
    [
        (["start", "nope"], "no card named `nope`"),
        (["show", "nope"], "no card named `nope`"),
        (["check"], "no attempt in progress"),
        (["giveup"], "no attempt in progress"),
        (["check", "/nonexistent.py", "--card", "add_scaled"], "no file at"),
        (["config", "budget_minutes", "lots"], "a whole number 1..1440"),
        (["config", "budget_minutes", "0"], "a whole number 1..1440"),
        (["config", "new_per_day", "100000"], "a whole number 0..50"),
        (["config", "rollover_hour", "13"], "a whole number 0..12"),
        (["abandon"], "no attempt in progress"),
        (["hint"], "no attempt in progress"),
        (["start", "add_scaled", "--dir", "/nonexistent/folder"], "no such folder"),
    ],
)
def test_bad_input_is_one_line(toy_cards, args, words):
    result = run(*args, ok=False)
    assert words in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_bad_drill_now(toy_cards):
    result = run("today", env={"DRILL_NOW": "yesterday-ish"}, ok=False)
    assert "DRILL_NOW" in result.output and "not an ISO date-time" in result.output


def test_corrupt_database_is_left_alone(toy_cards):
    Path(paths.db_path()).parent.mkdir(parents=True)
    Path(paths.db_path()).write_bytes(b"this is not sqlite" * 100)
    result = run("today", ok=False)
    assert "not a readable SQLite file" in result.output
    assert "nothing was changed" in result.output
    assert Path(paths.db_path()).read_bytes() == b"this is not sqlite" * 100


def test_broken_card_folder_is_skipped_with_a_warning(tmp_path, monkeypatch):
    bank = tmp_path / "bank" / "toy"
    bank.mkdir(parents=True)
    import shutil

    from conftest import TOY_CARDS

    shutil.copytree(TOY_CARDS / "toy" / "add_scaled", bank / "add_scaled")
    (bank / "broken").mkdir()
    (bank / "broken" / "card.toml").write_text("title = [unclosed")
    for name in ("prompt.md", "blank.py.j2", "reference.py", "verify.py"):
        (bank / "broken" / name).write_text("")
    monkeypatch.setenv("DRILL_CARDS", str(tmp_path / "bank"))
    result = run("list")
    assert "add_scaled" in result.stdout
    assert "card `broken`: card.toml is not valid TOML" in result.stderr
    (bank / "broken" / "verify.py").unlink()
    result = run("cards", "check", "broken", ok=False)
    assert "missing verify.py" in result.output


def test_config_round_trip(toy_cards):
    run("config", "budget_minutes", "30")
    assert "budget_minutes = 30" in run("config").output
    assert "(budget 30)" in run("today").output


def test_locked_database_is_one_line_and_loses_nothing(toy_cards, monkeypatch):
    import engine.store

    run("config", "budget_minutes", "30")
    monkeypatch.setattr(engine.store, "BUSY_TIMEOUT_S", 0.2)
    holder = sqlite3.connect(paths.db_path())
    holder.execute("BEGIN EXCLUSIVE")  # another program holds a write transaction
    try:
        result = run("config", "budget_minutes", "45", ok=False)
    finally:
        holder.rollback()
        holder.close()
    assert (
        "locked by another program" in result.output
        and "Traceback" not in result.output
    )
    assert "budget_minutes = 30" in run("config").output


@pytest.mark.parametrize("name", ["DRILL_TIMEOUT", "DRILL_MEMORY_MB"])
def test_bad_grading_settings_are_one_line(toy_cards, name):
    result = run(
        "check",
        str(ATTEMPTS / "partial.py"),
        "--card",
        "add_scaled",
        env={name: "soon"},
        ok=False,
    )
    assert f"{name} must be a positive number" in result.output
    assert "Traceback" not in result.output
