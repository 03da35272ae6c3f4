"""`drill check --watch`, driven by writing to the watched file, with a time limit on each step."""

import json
import os
import queue
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import ATTEMPTS

from drills.grading import client
from drills.watch import changes
from engine import paths

ROOT = Path(__file__).resolve().parent.parent
CORRECT = "def add_scaled(x, y, alpha=1.0):\n    return x + alpha * y\n"


class Drill:
    """A `drill` subprocess whose output lines are read as they come."""

    def __init__(self, *args):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "drills", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: queue.Queue = queue.Queue()
        self.seen: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 60) -> list[str]:
        """Lines up to and including the first one containing `text`."""
        deadline = time.monotonic() + timeout
        got = []
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                continue
            got.append(line)
            self.seen.append(line)
            if text in line:
                return got
        raise AssertionError(f"no {text!r} within {timeout} s; saw: {self.seen}")

    def finish(self, timeout: float = 30) -> tuple[int, list[str]]:
        """The exit status, and every line not read yet."""
        code = self.process.wait(timeout=timeout)
        self.reader.join(timeout)
        rest = []
        while not self.lines.empty():
            rest.append(self.lines.get())
        return code, rest

    def close(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


@pytest.fixture
def drill(toy_cards):
    started = []

    def start(*args):
        started.append(Drill(*args))
        return started[-1]

    yield start
    for d in started:
        d.close()


def test_watch_regrades_on_save_until_the_first_pass(drill, toy_cards, tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "drills", "start", "--dir", str(tmp_path), "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
    )
    attempt = Path(json.loads(out.stdout)["path"])
    attempt.write_text((ATTEMPTS / "partial.py").read_text())
    watch = drill("check", "--watch")
    watch.wait_for("watching")
    watch.wait_for("FAIL")
    # a slow save, then a correct one while the slow one is being graded: the slow check is
    # cancelled (it would take 2 s to import) and only the correct one is shown
    attempt.write_text((ATTEMPTS / "slow_correct.py").read_text())
    watch.wait_for("saved")
    time.sleep(0.5)  # the child has read the slow file and sleeps in its import
    attempt.write_text(CORRECT)
    lines = watch.wait_for("PASS", timeout=30)
    code, rest = watch.finish()
    assert code == 0
    text = "\n".join(lines + rest)
    assert "since the last check: fail → pass" in text
    assert "now passing: test_scales" in text
    assert "quality" in text
    conn = sqlite3.connect(paths.db_path())
    statuses = [r[0] for r in conn.execute("select status from checks order by id")]
    assert statuses == ["fail", "pass"]  # the cancelled slow check was never recorded
    assert conn.execute("select outcome from attempts").fetchall() == [("pass",)]
    # the slow check's child was killed, not awaited
    assert client.status()["served"] == 2


def test_watch_of_a_file_with_no_attempt_records_nothing(drill, tmp_path):
    path = tmp_path / "scratch.py"
    path.write_text("def add_scaled(x, y, alpha=1.0):\n    raise NotImplementedError\n")
    watch = drill("check", "--watch", str(path), "--card", "add_scaled", "--no-record")
    watch.wait_for("FAIL")
    path.write_text((ATTEMPTS / "partial.py").read_text())
    lines = watch.wait_for("since the last check")
    assert any("0/3 → 2/3 passing" in line for line in lines), lines
    path.write_text(CORRECT)
    watch.wait_for("PASS")
    assert watch.finish()[0] == 0
    assert not Path(paths.db_path()).exists() or sqlite3.connect(
        paths.db_path()
    ).execute("select count(*) from checks").fetchone() == (0,)


def test_changes_names_what_moved():
    def verdict(status, tests):
        return {
            "status": status,
            "passed": sum(s == "passed" for s in tests.values()),
            "failed": sum(s == "failed" for s in tests.values()),
            "tests": [{"name": n, "status": s} for n, s in tests.items()],
            "message": "",
        }

    before = verdict("fail", {"t_a[1]": "failed", "t_a[2]": "failed", "t_b": "passed"})
    after = verdict("fail", {"t_a[1]": "passed", "t_a[2]": "passed", "t_b": "failed"})
    assert changes(before, after) == (
        "since the last check: 1/3 → 2/3 passing; now passing: t_a (2); newly failing: t_b"
    )
    assert changes(after, after) == "since the last check: no test changed"
    assert changes(None, after) == ""
