"""Exporting the schedule, and backup/restore of the whole state (issue 8, part 3): real
SQLite files, the CLI, and child processes where stdin, stderr and exit codes matter."""

import csv
import gc
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from drills.cli import cli
from engine import paths
from engine.migrations import SCHEMA_VERSION

ROOT = Path(__file__).resolve().parent.parent
OLD_DB = ROOT / "tests" / "fixtures" / "db" / "schema1.db"  # 360 reviews, 707 checks
NOW = "2026-10-01T09:00"  # the fixture's history ends on 2026-09-28


def run(*args, ok=True, input=None, when=NOW):
    result = CliRunner().invoke(
        cli,
        list(args),
        input=input,
        env={"DRILL_NOW": when, "DRILL_WARM": "0"},
        catch_exceptions=False,
    )
    if ok is not None:
        assert (result.exit_code == 0) == ok, result.output
    return result.output


def drill(*args, stdin=subprocess.DEVNULL, when=NOW):
    """`drill ...` in a child process: (exit code, stdout, stderr)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DRILL_NOW": when, "DRILL_WARM": "0"}
    out = subprocess.run(
        [sys.executable, "-m", "drills", *args],
        stdin=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    return out.returncode, out.stdout, out.stderr


@pytest.fixture
def history():
    """The data folder holds the upgraded schema-1 fixture: 120 days of history."""
    db = Path(paths.db_path())
    db.parent.mkdir(parents=True)
    shutil.copy(OLD_DB, db)
    run("list")  # opens the store, which upgrades it
    return db


def dump(path) -> dict:
    """Every table's every row (and the schema version): the whole state."""
    conn = sqlite3.connect(path)
    try:
        tables = [
            r[0]
            for r in conn.execute(
                "select name from sqlite_master where type = 'table'"
                " and name not like 'sqlite_%' order by name"
            )
        ]
        state = {t: sorted(conn.execute(f'select * from "{t}"')) for t in tables}
        state["user_version"] = conn.execute("PRAGMA user_version").fetchone()[0]
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return state
    finally:
        conn.close()


# -- export ------------------------------------------------------------------------------------
def check_rfc5545(raw: bytes) -> None:
    """The structure RFC 5545 requires of every calendar file, checked on the bytes."""
    assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
    lines = raw.split(b"\r\n")[:-1]
    assert all(len(line) <= 75 for line in lines), (
        "content lines are folded at 75 octets"
    )
    unfolded = raw.replace(b"\r\n ", b"").decode("utf-8").split("\r\n")[:-1]
    stack = []
    for line in unfolded:
        name, _, value = line.partition(":")
        if name == "BEGIN":
            stack.append(value)
        elif name == "END":
            assert stack.pop() == value
    assert not stack and unfolded[0] == "BEGIN:VCALENDAR"


def test_the_ics_export_is_valid_and_parses_back(history, tmp_path):
    from icalendar import Calendar

    run("config", "interview_date", "2026-10-20")
    out = run("export", "--format", "ics", "--days", "30", str(tmp_path / "drill.ics"))
    assert "to " + str(tmp_path / "drill.ics") + " (ics)" in out
    raw = (tmp_path / "drill.ics").read_bytes()
    check_rfc5545(raw)
    cal = Calendar.from_ical(raw)
    assert str(cal["VERSION"]) == "2.0" and "drill" in str(cal["PRODID"])
    events = list(cal.walk("VEVENT"))
    uids = [str(e["UID"]) for e in events]
    assert len(set(uids)) == len(uids) > 1
    for e in events:
        start, end = e.decoded("DTSTART"), e.decoded("DTEND")
        assert type(start) is date and end == start + timedelta(days=1)  # all-day
        assert e.decoded("DTSTAMP").tzinfo is not None
    # the same reviews as the JSON export, day by day
    reviews = json.loads(run("export", "--format", "json", "--days", "30"))["reviews"]
    assert reviews, "the fixture's cards are due in the next 30 days"
    by_day = {}
    for r in reviews:
        by_day.setdefault(r["date"], []).append(r["card"])
    days = {
        e.decoded("DTSTART").isoformat(): str(e["DESCRIPTION"])
        for e in events
        if str(e["SUMMARY"]).startswith("drill:")
    }
    assert sorted(days) == sorted(by_day)
    for day, cards in by_day.items():
        assert [
            line.split(":")[0] for line in days[day].splitlines()[: len(cards)]
        ] == (cards)
    interview = [e for e in events if str(e["SUMMARY"]) == "Interview (drill)"]
    assert [e.decoded("DTSTART") for e in interview] == [date(2026, 10, 20)]
    # stable UIDs: a later export updates the same days' events in a calendar
    later = Calendar.from_ical(run("export", "--format", "ics", when="2026-10-02"))
    assert {str(e["UID"]) for e in later.walk("VEVENT")} & set(uids)


def test_csv_and_json_exports_agree(history, tmp_path):
    data = json.loads(run("export", "--format", "json", "--days", "10"))
    assert data["from"] == "2026-10-01" and data["days"] == 10
    rows = data["reviews"]
    assert all("2026-10-01" <= r["date"] < "2026-10-11" for r in rows)
    assert [r["date"] for r in rows] == sorted(r["date"] for r in rows)
    # each card once: its next review
    assert len({r["card"] for r in rows}) == len(rows)
    overdue = [r for r in rows if r["kind"] == "overdue"]
    assert overdue and all(
        r["date"] == "2026-10-01" and r["overdue_days"] > 0 for r in overdue
    )
    run("export", str(tmp_path / "due.csv"), "--days", "10")  # the format from the name
    with open(tmp_path / "due.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == list(rows[0])  # the header names every field
    assert [(r["date"], r["card"]) for r in table] == [
        (r["date"], r["card"]) for r in rows
    ]
    year = json.loads(run("export", "--format", "json", "--days", "366"))["reviews"]
    conn = sqlite3.connect(history)
    due = conn.execute("select card from schedule where due < '2027-10-02'").fetchall()
    conn.close()
    assert sorted(r["card"] for r in year) == sorted(c for (c,) in due)


@pytest.mark.parametrize(
    "args, message",
    [
        (["export"], "say which format: --format ics|csv|json"),
        (["export", "--format", "ics"], "no reviews due in the next 30 days"),
        (["export", "plan.txt"], "plan.txt has no .ics, .csv or .json extension"),
        (
            ["export", "--format", "ics", "/no/such/dir/x.ics"],
            "/no/such/dir does not exist",
        ),
        (["export", "--format", "xml"], "'xml' is not one of 'ics', 'csv', 'json'"),
        (
            ["export", "--format", "csv", "--days", "0"],
            "0 is not in the range 1<=x<=366",
        ),
    ],
)
def test_bad_export_is_one_line(args, message):
    code, out, err = drill(*args)
    assert code != 0 and out == ""
    assert message in err and "Traceback" not in err
    # click's usage lines for a bad option, else one
    assert err.strip().count("\n") <= 3


# -- backup and restore -----------------------------------------------------------------------
def test_backup_and_restore_round_trip_the_whole_state(history, tmp_path):
    conn = sqlite3.connect(history)  # a table this version does not know: copied too
    conn.execute("create table future_feature (id integer primary key, note text)")
    conn.executemany(
        "insert into future_feature (note) values (?)", [("é",), ("x" * 5000,)]
    )
    conn.commit()
    conn.close()
    before = dump(history)
    assert len(before["reviews"]) >= 300 and before["user_version"] == SCHEMA_VERSION
    out = run("backup", str(tmp_path / "b.db"))
    assert out.startswith(
        "Backed up 360 reviews, 360 attempts, 707 checks, 9 card states"
    )
    assert dump(tmp_path / "b.db") == before
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    # the state moves on: an attempt and its review, a setting
    run("start", "attention", "--dir", str(tmp_path))
    run("giveup", "--quality", "1")
    run("config", "budget_minutes", "30")
    changed = dump(history)
    assert len(changed["reviews"]) == len(before["reviews"]) + 1
    # restore, confirmed: back to the backup, row for row; the replaced state is kept
    out = run("restore", str(tmp_path / "b.db"), input="y\n")
    assert (
        "Your current data holds 361 reviews" in out and "Restored 360 reviews" in out
    )
    assert dump(history) == before
    kept = list(Path(paths.data_dir(), "backups").glob("before-restore-*.db"))
    assert len(kept) == 1 and dump(kept[0]) == changed
    assert "(budget 45)" in run("today")  # the light path reads the restored file


def test_restore_asks_before_it_overwrites(history, tmp_path):
    run("backup", str(tmp_path / "b.db"))
    run("config", "budget_minutes", "30")
    before = dump(history)
    out = run("restore", str(tmp_path / "b.db"), input="n\n", ok=False)
    assert "nothing restored: your data is as it was" in out
    code, _, err = drill("restore", str(tmp_path / "b.db"))  # no terminal, no --yes
    assert code == 1 and "--yes restores without asking" in err
    assert dump(history) == before
    code, out, err = drill("restore", str(tmp_path / "b.db"), "--yes")
    assert code == 0 and "Restored 360 reviews" in out, err
    assert dump(history) == dump(tmp_path / "b.db")


def test_restore_into_a_new_data_folder_upgrades_an_old_backup():
    out = run("restore", str(OLD_DB))  # nothing to overwrite: no question
    assert "Restored 360 reviews, 360 attempts, 707 checks, 9 card states" in out
    assert "kept in" not in out
    state = dump(paths.db_path())
    assert state["user_version"] == SCHEMA_VERSION
    old = dump(OLD_DB)
    for table in ("reviews", "checks", "schedule", "settings"):
        assert len(state[table]) == len(old[table])
    assert [r[:4] for r in state["reviews"]] == [r[:4] for r in old["reviews"]]
    assert dump(OLD_DB) == old  # the backup file is only read


def _sqlite_without_drill(path):
    conn = sqlite3.connect(path)
    conn.execute("create table notes (body text)")
    conn.commit()
    conn.close()


def _newer(path):
    shutil.copy(OLD_DB, path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.write_text("id,card\n1,attention\n"), "not an SQLite database"),
        (_sqlite_without_drill, "an SQLite database without drill's tables"),
        (lambda p: p.write_bytes(OLD_DB.read_bytes()[:6000]), "malformed"),
        (_newer, "was written by a newer drill"),
        (lambda p: p.mkdir(), "is a folder, not a drill backup file"),
        (lambda p: None, "No such file or directory"),
    ],
    ids=["text", "other-sqlite", "truncated", "newer", "folder", "missing"],
)
def test_restore_refuses_what_is_not_a_drill_database(history, tmp_path, make, message):
    before = dump(history)
    bad = tmp_path / "bad.db"
    make(bad)
    code, out, err = drill("restore", str(bad), "--yes")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and message in err, err
    assert dump(history) == before


def test_backup_reads_a_consistent_state_while_another_drill_writes(history, tmp_path):
    writer = sqlite3.connect(history, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("insert into settings (key, value) values ('new_per_day', '5')")
    try:
        code, _, err = drill("backup", str(tmp_path / "b.db"))
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert code == 0, err
    assert dump(tmp_path / "b.db") == dump(history)  # without the uncommitted row


def test_backup_names_and_refusals(history, tmp_path):
    folder = tmp_path / "backups"
    folder.mkdir()
    first = run("backup", str(folder))
    second = run("backup", str(folder))  # the same second: a second file, not a clobber
    assert len(list(folder.glob("drill-2026-10-01-*.db"))) == 2 and first != second
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    code, _, err = drill("backup", str(notes))
    assert code == 1 and "exists and is not a drill backup" in err
    assert notes.read_text() == "mine"
    code, _, err = drill("backup", str(tmp_path / "none" / "b.db"))
    assert code == 1 and "does not exist" in err and err.count("\n") == 1


def test_backup_before_anything_is_recorded_says_so(tmp_path):
    code, _, err = drill("backup", str(tmp_path / "b.db"))
    assert code == 1 and "nothing to back up" in err and err.count("\n") == 1


def test_a_killed_restore_leaves_the_old_data_or_the_new(history, tmp_path):
    """SIGKILL at points through `drill restore`: the live database always passes
    integrity_check and holds either the data it had or the backup's, never a mix."""
    run("backup", str(tmp_path / "old.db"))
    run("start", "attention", "--dir", str(tmp_path))
    run("giveup", "--quality", "1")
    run("backup", str(tmp_path / "new.db"))
    old, new = dump(tmp_path / "old.db"), dump(tmp_path / "new.db")
    gc.collect()  # no connection of this process's CLI runs stays open (see below)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DRILL_NOW": NOW}
    for n in range(6):
        # reset in a child: this process only reads, as a user's second terminal would
        assert drill("restore", str(tmp_path / "new.db"), "--yes")[0] == 0
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "drills",
                "restore",
                str(tmp_path / "old.db"),
                "--yes",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.1 + 0.08 * n)
        child.kill()
        child.wait()
        state = dump(history)  # asserts PRAGMA integrity_check
        assert state in (old, new), f"a mix after a kill at {0.1 + 0.08 * n:.2f} s"
    for kept in Path(paths.data_dir(), "backups").glob("*.db"):
        assert dump(kept) in (old, new)
    # sweeps killed restores' copies
    drill("restore", str(tmp_path / "old.db"), "--yes")
    assert not [p for p in os.listdir(paths.data_dir()) if p.startswith(".restore.")]
