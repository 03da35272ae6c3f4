import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from engine import reader as light
from engine.reader import open_reader
from engine.schema import SCHEMA_VERSION
from engine.store import Store

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


def test_light_reader_knows_the_schema_version():
    assert light.SCHEMA_VERSION == SCHEMA_VERSION


def test_memory_store_reviews():
    store = Store(memory=True)
    step = store.review("attention", 5, NOW, 4, "check")
    assert (step["repetitions"], step["interval"], step["ease_x100"], step["due"]) == (
        1,
        1,
        260,
        "2026-11-30",
    )
    again = store.review(
        "attention", 2, NOW, 4, "check"
    )  # same study day: a repeat, not counted
    assert (
        not again["counted"]
        and again["again_on"] == "2026-11-29"
        and again["interval"] == 1
    )
    assert [r["counted"] for r in store.reviews()] == [1, 0]


def test_reopen_keeps_rows_and_reader_needs_no_migration(tmp_path):
    path = tmp_path / "drill.db"
    assert open_reader(path) is None  # missing: the caller creates it with Store
    store = Store(path)
    store.start_attempt("rmsnorm", tmp_path / "a.py", NOW, NOW)
    store.review("rmsnorm", 4, NOW, 4, "check")
    store.db.conn.close()
    reader = open_reader(path)
    assert reader is not None
    assert [a["card"] for a in reader.open_attempts()] == ["rmsnorm"]
    assert reader.states()["rmsnorm"].interval == 1
    Store(path)  # opening again applies nothing and loses nothing
    assert len(open_reader(path).reviews()) == 1


def test_old_schema_version_is_migrated_without_loss(tmp_path):
    path = tmp_path / "drill.db"
    store = Store(path)
    store.review("rmsnorm", 5, NOW, 4, "check")
    store.db.execute(
        "PRAGMA user_version = 0"
    )  # as a database from before user_version was kept
    store.db.conn.close()
    assert open_reader(path) is None
    Store(path)
    assert len(open_reader(path).reviews()) == 1


def test_two_processes_at_once(tmp_path, toy_cards):
    """Two `drill` commands on one (new) database at the same moment both work."""
    env = {**os.environ, "DRILL_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-c", "from drills.cli import main; main()"]
    for _ in range(3):
        procs = [
            subprocess.Popen(
                [*cmd, "start", "add_scaled", "--dir", str(tmp_path)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            ),
            subprocess.Popen(
                [*cmd, "config", "budget_minutes", "45"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            ),
            subprocess.Popen(
                [*cmd, "today"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            ),
        ]
        for p in procs:
            out, _ = p.communicate(timeout=60)
            assert p.returncode == 0, out.decode()
    reader = open_reader(tmp_path / "home" / "drill.db")
    assert len(reader.open_attempts()) == 1
    assert reader.settings()["budget_minutes"] == "45"
