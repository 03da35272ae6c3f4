"""Reliability (issue 8): SIGKILL a real `drill` in the middle of grading a check, and in the
middle of grading a mock session at its end; every earlier record survives, the database
passes `PRAGMA integrity_check`, and the session can still be finished."""

import os
import shutil
import signal
import sqlite3
import time
from pathlib import Path

from test_mock import bank, cli_run, close_terminal, drill, solve, start_mock

from engine import paths

# hundreds of reviews
FIXTURE = Path(__file__).parent / "fixtures" / "db" / "schema2.db"
# What is on record: everything but the open session's rows, which its end may still fill in.
RECORDS = {
    "attempts": "ended_at is not null",
    "checks": "1",
    "reviews": "1",
    "schedule": "1",
    "plans": "1",
    "settings": "1",
    "mocks": "ended_at is not null",
    "mock_problems": "status is not null",
}


def snapshot() -> dict:
    conn = sqlite3.connect(paths.db_path())
    try:
        return {
            t: conn.execute(f"select * from {t} where {where} order by 1, 2").fetchall()
            for t, where in RECORDS.items()
        }
    finally:
        conn.close()


def table(name: str) -> list:
    conn = sqlite3.connect(paths.db_path())
    try:
        return conn.execute(f"select * from {name} order by 1, 2").fetchall()
    finally:
        conn.close()


def kept(before: dict, after: dict) -> None:
    """Every row of `before` is in `after`, unchanged (new rows may have been added)."""
    for table, rows in before.items():
        missing = set(rows) - set(after[table])
        assert not missing, (
            f"{table} lost or changed {len(missing)} rows: {sorted(missing)[:3]}"
        )


def integrity_ok() -> None:
    conn = sqlite3.connect(paths.db_path())
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()


def hang(path: Path, pid_file: Path) -> None:
    """An attempt that says when it is being graded, then takes its time."""
    path.write_text(
        f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "time.sleep(60)\n"
    )


def wait_for(pid_file: Path, proc, timeout=60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pid_file.exists() and pid_file.read_text():
            return int(pid_file.read_text())
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.02)
    raise AssertionError("the grader never imported the attempt")


def kill_both(proc, child: int) -> None:
    close_terminal(proc)  # SIGKILL drill itself, mid-grading
    try:
        os.kill(child, signal.SIGKILL)  # and the grading child it left behind
    except ProcessLookupError:
        pass


def test_sigkill_mid_grading_and_mid_mock_loses_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("DRILL_CARDS", str(bank(tmp_path)))
    monkeypatch.setenv("DRILL_TIMEOUT", "30")
    Path(paths.data_dir()).mkdir(parents=True)
    # an upgraded history: 360 reviews, 707 checks
    shutil.copy(FIXTURE, paths.db_path())
    proc, files, _ = start_mock("--cards", "2", "--seed", "3", "--minutes", "30")
    close_terminal(proc)  # the terminal closes during the session
    first, second = sorted(files, key=lambda c: files[c].name)
    before = snapshot()
    assert len(before["reviews"]) == 360 and len(table("mock_problems")) == 2
    integrity_ok()

    # 1. a `drill check` killed while its verdict is being made
    pid_file = tmp_path / "grading.pid"
    hang(files[second], pid_file)
    check = drill("check", str(files[second]), when="2026-11-29T09:05:00+00:00")
    kill_both(check, wait_for(pid_file, check))
    after = snapshot()
    kept(before, after)
    # the killed check: not half-recorded
    assert len(after["checks"]) == len(before["checks"])
    integrity_ok()

    # 2. `drill mock --finish` killed after grading one problem, while grading the next
    solve(files[first], first)
    pid_file.unlink()
    finish = drill("mock", "--finish", when="2026-11-29T09:10:00+00:00")
    kill_both(finish, wait_for(pid_file, finish))
    after = snapshot()
    kept(before, after)
    integrity_ok()
    problems = table("mock_problems")
    assert [(r[2], r[6]) for r in problems] == [(first, "pass"), (second, None)]
    assert table("mocks")[0][8] is None  # the session has not ended
    assert len(after["reviews"]) == len(before["reviews"]) + 1

    # the rest is graded by the next --finish, and nothing before it changed
    files[second].write_text("def nothing():\n    pass\n")
    out = cli_run("mock", "--finish", when="2026-11-29T09:12:00+00:00")
    assert "Solved 1 of 2" in out
    final = snapshot()
    kept(after, final)
    assert final["mock_problems"][0][6] == "pass"
    assert final["mock_problems"][1][6] not in (None, "pass")
    assert (
        len(final["mocks"]) == 1 and len(final["reviews"]) == len(after["reviews"]) + 1
    )
    integrity_ok()


def test_sigkill_at_random_moments_of_the_end_of_a_mock(tmp_path, monkeypatch):
    """Kill `drill mock --finish` again and again at random moments (inside or outside a
    transaction): each kill keeps every record, and each problem is graded exactly once."""
    import random

    monkeypatch.setenv("DRILL_CARDS", str(bank(tmp_path)))
    proc, files, _ = start_mock("--cards", "3", "--seed", "5")
    close_terminal(proc)
    for slug, path in files.items():
        solve(path, slug)
    # kills land in grading
    cli_run("grader", "start", when="2026-11-29T09:00:00+00:00")
    rng = random.Random(8)
    before, kills = snapshot(), 0
    while table("mocks")[0][8] is None and kills < 8:
        finish = drill("mock", "--finish", when="2026-11-29T09:20:00+00:00")
        time.sleep(0.25 + 0.06 * kills + rng.uniform(0, 0.06))  # later each time
        if finish.poll() is None:
            close_terminal(finish)
            kills += 1
        else:
            finish.communicate()
        after = snapshot()
        kept(before, after)
        integrity_ok()
        before = after
    if table("mocks")[0][8] is None:
        cli_run("mock", "--finish", when="2026-11-29T09:20:00+00:00")
    assert kills >= 1
    assert [r[6] for r in table("mock_problems")] == ["pass", "pass", "pass"]
    reviews = table("reviews")
    assert sorted(r[1] for r in reviews) == sorted(files)  # one review each, no more
    attempts = table("attempts")
    assert [r[6] for r in attempts] == ["pass"] * 3
    integrity_ok()
