"""The daily loop as a user lives in it (issue 6): a plan that holds, an attempt that ends
once, hints that cost, a visible clock, and one true line for a data folder drill cannot use."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_cli import rows

from drills.cli import cli

ROOT = Path(__file__).resolve().parent.parent
GOOD = {
    "add_scaled": "return x + alpha * y",
    "scale": "return alpha * x",
    "twice": "return x + x",
}


def run(*args, when=None, ok=True):
    env = {"DRILL_NOW": when} if when else None
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    if ok is not None:
        assert (result.exit_code == 0) == ok, result.output
    return result.output


def start(folder, *args, when=None):
    out = run("start", *args, "--dir", str(folder), "--json", when=when)
    return json.loads(out)


def solve(started):
    path = Path(started["path"])
    path.write_text(
        path.read_text().replace("raise NotImplementedError", GOOD[started["card"]])
    )


def test_the_plan_holds_a_repeat_joins_at_the_end_and_start_follows_it(
    toy_cards, tmp_path
):
    first = start(tmp_path, when="2026-11-29T09:00")  # fixes the plan
    assert first["card"] == "add_scaled"
    assert "Gave up" in run("giveup", when="2026-11-29T09:04")
    plan = json.loads(run("today", "--json", when="2026-11-29T09:05"))["plan"]
    assert [(p["card"], p["kind"], p["status"]) for p in plan] == [
        ("add_scaled", "new", "done"),
        ("scale", "new", ""),
        ("add_scaled", "again", ""),
    ]
    assert start(tmp_path, when="2026-11-29T09:06")["card"] == "scale"  # not the repeat
    # a second attempt is an explicit choice; abandon records nothing
    out = run(
        "start", "twice", "--dir", str(tmp_path), when="2026-11-29T09:07", ok=False
    )
    assert "an attempt at `scale`" in out and "--also" in out
    assert "no review recorded" in run("abandon", when="2026-11-29T09:08")
    assert rows("select count(*) n from reviews where card = 'scale'") == [{"n": 0}]
    assert start(tmp_path, when="2026-11-29T09:09")["card"] == "scale"  # still next


def test_an_unlocked_card_joins_at_the_end(toy_cards, tmp_path):
    run("config", "new_per_day", "3")
    solve(start(tmp_path, when="2026-11-29T09:00"))
    run("check", when="2026-11-29T09:03")
    plan = json.loads(run("today", "--json", when="2026-11-29T09:04"))["plan"]
    assert [(p["card"], p["kind"]) for p in plan] == [
        ("add_scaled", "new"),
        ("scale", "new"),
        ("twice", "unlocked"),
    ]
    assert start(tmp_path, when="2026-11-29T09:05")["card"] == "scale"


def test_two_open_attempts_need_a_card_named(toy_cards, tmp_path):
    start(tmp_path, "add_scaled")
    start(tmp_path, "scale", "--also")
    out = run("check", ok=False)
    assert "attempts at" in out and "say which" in out
    assert "Abandoned the attempt at scale" in run("abandon", "scale")


def test_two_checks_of_one_attempt_at_once_give_one_review(toy_cards, tmp_path):
    solve(start(tmp_path, when="2026-11-29T09:00"))
    env = {**os.environ, "DRILL_NOW": "2026-11-29T09:02", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "drills", "check"]
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120)[0].decode() for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert rows("select count(*) n from reviews") == [{"n": 1}]
    assert rows("select count(*) n from checks") == [{"n": 2}]
    assert sum("Attempt over" in o for o in outs) == 1, outs
    assert sum("already ended" in o for o in outs) == 1, outs


def test_hints_cap_quality_and_the_reference_ends_the_attempt(toy_cards, tmp_path):
    started = start(tmp_path, when="2026-11-29T09:00")
    out = run("hint", when="2026-11-29T09:01")
    assert (
        "Hint 1 of 3" in out
        and "at most quality 4" in out
        and "alpha defaults to 1" in out
    )
    solve(started)
    # first check, in time: 5 -> 4
    assert "quality 4" in run("check", when="2026-11-29T09:02")
    start(tmp_path, "scale", when="2026-11-29T09:10")
    run("hint", when="2026-11-29T09:11")
    assert "at most quality 3" in run("hint", when="2026-11-29T09:11")
    out = run("hint", when="2026-11-29T09:12")
    assert "return alpha * x" in out and "Gave up" in out
    assert rows("select source from reviews where card = 'scale'") == [
        {"source": "hint"}
    ]


def test_the_solution_during_an_attempt_is_a_give_up(toy_cards, tmp_path):
    start(tmp_path, when="2026-11-29T09:00")
    out = run("solution", "add_scaled", when="2026-11-29T09:01")
    assert "return x + alpha * y" in out and "ends the attempt" in out
    assert rows("select outcome from attempts") == [{"outcome": "giveup"}]
    assert rows("select source, quality from reviews") == [
        {"source": "solution", "quality": 0}
    ]
    run("solution", "add_scaled")  # afterwards it is free
    assert len(rows("select * from reviews")) == 1


def test_time_is_visible(toy_cards, tmp_path):
    started = start(tmp_path, when="2026-11-29T09:00")
    Path(started["path"]).write_text(
        Path(started["path"])
        .read_text()
        .replace("raise NotImplementedError", "return x + y")
    )
    out = run("check", when="2026-11-29T09:02", ok=False)
    assert "3 min left (deadline 09:05)" in out and "best so far 2/3 tests" in out
    today = run("today", when="2026-11-29T09:03")
    assert "In progress: add_scaled — 3 min used, 2 min left (deadline 09:05)" in today
    data = json.loads(run("today", "--json", when="2026-11-29T09:03"))
    assert (
        data["in_progress"][0]["left_s"] == 120
        and data["in_progress"][0]["checks"] == 1
    )
    status = run("status", when="2026-11-29T09:07")
    assert "7 min used, 2 min over the target" in status
    assert "1 check so far; best 2/3 tests passed" in status
    path = Path(started["path"])
    path.write_text(path.read_text().replace("return x + y", "return x + alpha * y"))
    run("check", when="2026-11-29T09:12")
    # minutes spent, not 5
    assert "12 min spent" in run("today", when="2026-11-29T09:13")


def test_a_date_alone_means_that_day(toy_cards):
    assert run("today", when="2026-12-10").startswith("Thursday 10 December 2026")


def test_list_after_a_give_up_says_again_today(toy_cards, tmp_path):
    start(tmp_path, when="2026-11-29T09:00")
    run("giveup", when="2026-11-29T09:01")
    row = next(
        r for r in json.loads(run("list", "--json")) if r["slug"] == "add_scaled"
    )
    assert row["state"] == "again today" and row["due"] == "2026-11-30"
    assert "again today" in run("list")


def test_list_json_knows_where_a_triton_card_grades():
    rows_ = json.loads(run("list", "--json"))
    triton = next(r for r in rows_ if r["slug"] == "softmax_triton")
    assert triton["devices"] == {"cuda": "native", "cpu": "triton interpreter"}
    assert triton["frequency_estimated"] is True
    assert "0.10 est." in run("list")


def test_waiting_cards_are_mentioned(toy_cards):
    assert "Waiting on prerequisites: twice (after add_scaled)" in run("today")


def test_piped_output_keeps_the_why_column(toy_cards):
    out = subprocess.run(
        [sys.executable, "-m", "drills", "today"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
    ).stdout
    assert "new: asked in est. ~50% of interviews" in out


@pytest.mark.parametrize(
    "env, words",
    [
        ({"DRILL_CARDS": "/nonexistent"}, "no card bank at /nonexistent"),
        ({"DRILL_DEVICE": "tpu"}, "DRILL_DEVICE=tpu: drill grades on cpu and cuda"),
    ],
)
def test_bad_environment_is_one_line(toy_cards, tmp_path, monkeypatch, env, words):
    file = tmp_path / "a.py"
    file.write_text("def add_scaled(x, y, alpha=1.0):\n    return x\n")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    args = (
        ["today"]
        if "DRILL_CARDS" in env
        else ["check", str(file), "--card", "add_scaled"]
    )
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and words in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1


# -- data folders drill cannot use --------------------------------------------------------------
def test_a_data_folder_that_is_a_file(monkeypatch, tmp_path):
    (tmp_path / "afile").write_text("")
    monkeypatch.setenv("DRILL_HOME", str(tmp_path / "afile"))
    out = run("today", ok=False)
    assert "is a file, not a folder" in out and len(out.strip().splitlines()) == 1


def _as_another_user(command: list[str], env: dict):
    """Run the light CLI as a user who may not write the data folder. Root writes anywhere,
    so as root this runs the system python as `nobody` (drill's light path needs no
    third-party package)."""
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "HOME": "/tmp",
        "TZ": "UTC",
        **env,
    }
    if os.geteuid() != 0:
        return subprocess.run(
            [sys.executable, *command],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    if not shutil.which("setpriv") or not os.path.exists("/usr/bin/python3"):
        pytest.skip("needs setpriv and /usr/bin/python3 to drop root")
    drop = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "/usr/bin/python3",
    ]
    return subprocess.run(
        [*drop, *command], env=env, capture_output=True, text=True, check=False
    )


def test_a_read_only_data_folder_reads_and_says_why_it_cannot_write(monkeypatch):
    base = Path("/tmp") / f"drill-ro-{os.getpid()}"
    home = base / "home"
    try:
        home.mkdir(parents=True)
        base.chmod(0o755)
        env = {"DRILL_HOME": str(home), "DRILL_NOW": "2026-11-29T09:00"}
        probe = _as_another_user(
            ["-c", "import sys; print(sys.version_info >= (3, 11))"], env
        )
        if probe.stdout.strip() != "True" or str(ROOT).startswith("/root"):
            pytest.skip("the project is not readable by another user here")
        monkeypatch.setenv("DRILL_HOME", str(home))
        run("today")  # as ourselves: creates the database
        before = Path(paths_db(home)).read_bytes()
        home.chmod(0o555)
        for args in (["today"], ["list"], ["status"]):
            done = _as_another_user(
                ["-m", "drills", *args], {**env, "DRILL_NOW": "2026-11-30T09:00"}
            )
            assert done.returncode == 0, done.stderr
            assert "unreadable" not in done.stderr + done.stdout
        done = _as_another_user(
            ["-m", "drills", "today"], {**env, "DRILL_NOW": "2026-11-30T09:00"}
        )
        assert "This plan is not kept: the data folder" in done.stdout
        assert "is read-only" in done.stdout
        code = (
            "from engine.store import Store; from engine.reader import StoreError\n"
            f"try:\n    Store({str(paths_db(home))!r}).set_setting('budget_minutes', '5')\n"
            "except StoreError as e:\n    print(e)"
        )
        done = _as_another_user(["-c", code], env)
        assert (
            "is read-only: drill can show your schedule but cannot record"
            in done.stdout
        ), done
        assert "move it aside" not in done.stdout
        sub = {**env, "DRILL_HOME": str(home / "new")}
        done = _as_another_user(["-m", "drills", "today"], sub)
        assert done.returncode == 1
        assert (
            "cannot create the data folder" in done.stderr
            and "Permission denied" in done.stderr
        )
        # nothing lost, nothing changed
        assert Path(paths_db(home)).read_bytes() == before
    finally:
        home.chmod(0o755)
        shutil.rmtree(base, ignore_errors=True)


def paths_db(home: Path) -> Path:
    return home / "drill.db"
