"""The warm grader as a user meets it: started on first use, shared, current, replaceable, and
never the reason a check hangs or lies."""

import json
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ATTEMPTS, TOY_CARDS

from drills.cli import cli
from drills.grading import client, grade, protocol
from engine import paths

ROOT = Path(__file__).resolve().parent.parent


def run(*args, ok=True, env=None):
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    if ok is not None:
        assert (result.exit_code == 0) == ok, result.output
    return result


def served() -> int:
    return client.status()["served"]


def test_first_check_starts_a_private_grader_that_later_checks_reuse(toy_card):
    notes = []
    first = grade(toy_card, toy_card.path / "reference.py", note=notes.append)
    second = grade(toy_card, ATTEMPTS / "partial.py", note=notes.append)
    assert (first["status"], second["status"]) == ("pass", "fail")
    assert notes == []
    assert served() == 2
    mode = stat.S_IMODE(os.stat(protocol.socket_path()).st_mode)
    assert mode == 0o600, oct(mode)  # readable and writable by the user alone
    assert "warm grader: running" in run("grader", "status").output
    assert "warm grader stopped" in run("grader", "stop").output
    assert "not running" in run("grader", "status").output


def test_two_checks_at_once_get_their_own_verdicts(toy_card):
    client.ensure(protocol.socket_path())
    files = [ATTEMPTS / "slow_correct.py", ATTEMPTS / "partial.py"] * 2
    verdicts = [None] * len(files)

    def check(i):
        verdicts[i] = grade(toy_card, files[i], note=pytest.fail)

    threads = [threading.Thread(target=check, args=(i,)) for i in range(len(files))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [v["status"] for v in verdicts] == ["pass", "fail", "pass", "fail"]
    assert [v["passed"] for v in verdicts] == [3, 2, 3, 2]
    assert served() == 4


def test_an_edited_verifier_is_used_by_a_warm_grader(tmp_path, monkeypatch):
    shutil.copytree(TOY_CARDS, tmp_path / "bank")
    monkeypatch.setenv("DRILL_CARDS", str(tmp_path / "bank"))
    from engine.catalog import load_catalog

    card = load_catalog()["add_scaled"]
    assert grade(card, card.path / "reference.py")["status"] == "pass"
    verify = card.path / "verify.py"
    verify.write_text(
        verify.read_text()
        + "\n\ndef test_a_new_rule(impl):\n    assert False, 'the new rule'\n"
    )
    verdict = grade(card, card.path / "reference.py", note=pytest.fail)
    assert verdict["status"] == "fail"
    assert [t["message"] for t in verdict["tests"] if t["status"] == "failed"] == [
        "the new rule"
    ]
    assert served() == 2  # the same grader, not a restarted one


def test_a_grader_from_older_code_is_replaced(toy_card):
    path = protocol.socket_path()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    old_code = (
        "import sys, drills; drills.__version__ = '0.0.1'\n"
        "from drills.grading.server import main\n"
        f"sys.exit(main(['--socket', {path!r}]))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    old = subprocess.Popen([sys.executable, "-c", old_code], env=env)
    deadline = time.monotonic() + 60
    while not protocol.answers(path):
        assert time.monotonic() < deadline and old.poll() is None
        time.sleep(0.05)
    old_pid = client.status()["pid"]
    notes = []
    verdict = grade(toy_card, toy_card.path / "reference.py", note=notes.append)
    assert verdict["status"] == "pass" and notes == []
    assert old.wait(timeout=30) == 0  # the old grader stopped by itself
    assert client.status()["pid"] != old_pid and served() == 1


def test_killing_the_grader_mid_check_still_gives_a_verdict_and_keeps_the_db(
    toy_cards, tmp_path
):
    started = json.loads(run("start", "--dir", str(tmp_path), "--json").output)
    attempt = Path(started["path"])
    attempt.write_text((ATTEMPTS / "slow_correct.py").read_text())
    client.ensure(protocol.socket_path())
    pid = client.status()["pid"]

    def kill_when_busy():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            info = client.status()
            if info and info["in_flight"]:
                os.kill(pid, signal.SIGKILL)
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_when_busy)
    killer.start()
    result = run("check")
    killer.join()
    assert "PASS" in result.output
    assert "warm grader unavailable (it stopped during the check)" in result.output
    conn = sqlite3.connect(paths.db_path())
    assert conn.execute("pragma integrity_check").fetchone() == ("ok",)
    assert conn.execute("select status from checks").fetchall() == [("pass",)]
    assert conn.execute("select outcome from attempts").fetchall() == [("pass",)]
    assert conn.execute("select count(*) from reviews").fetchone() == (1,)


def test_drill_warm_0_grades_cold_and_starts_nothing(toy_cards, monkeypatch):
    monkeypatch.setenv("DRILL_WARM", "0")
    result = run(
        "check", str(ATTEMPTS / "partial.py"), "--card", "add_scaled", ok=False
    )
    assert "2/3 tests passed" in result.output
    assert not os.path.exists(protocol.socket_path())
    assert "off (DRILL_WARM=0)" in run("grader", "status").output


def test_an_idle_grader_exits_by_itself(toy_card, monkeypatch):
    monkeypatch.setenv("DRILL_GRADER_IDLE", "1")
    process = client.ensure(protocol.socket_path())
    assert process.wait(timeout=30) == 0
    assert not protocol.answers(protocol.socket_path())
    assert not os.path.exists(protocol.socket_path())


def test_a_long_data_directory_gets_a_private_socket(tmp_path, monkeypatch):
    home = tmp_path / ("long-" * 25)
    monkeypatch.setenv("DRILL_HOME", str(home))
    path = protocol.socket_path()
    assert len(path) <= 100 and not path.startswith(str(home))
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700


def test_a_frozen_grader_costs_a_cold_check_not_a_hang(toy_card):
    process = client.ensure(protocol.socket_path())
    # alive, holding its lock and socket, answering nothing
    os.kill(process.pid, signal.SIGSTOP)
    try:
        notes = []
        started = time.monotonic()
        verdict = grade(toy_card, toy_card.path / "reference.py", note=notes.append)
        assert verdict["status"] == "pass"
        assert time.monotonic() - started < 40
        assert len(notes) == 1 and "does not answer" in notes[0], notes
    finally:
        os.kill(process.pid, signal.SIGCONT)


def test_optimiser_cards_preload_dynamo(tmp_path):
    """A torch.optim optimiser's first step imports torch._dynamo (seconds): the grader imports
    it once, before forking, for a verifier that uses torch.optim, and not for the others."""
    from drills.grading.runner import verifier_imports
    from drills.grading.server import preloadable

    uses = tmp_path / "uses.py"
    uses.write_text(
        "import torch\n\ndef f(p):\n    return torch.optim.SGD(p, lr=0.1)\n"
    )
    plain = tmp_path / "plain.py"
    plain.write_text("import torch\nfrom transformers import LlamaConfig\n")
    assert "torch._dynamo" in verifier_imports(str(uses))
    assert "torch._dynamo" not in verifier_imports(str(plain))
    assert preloadable("torch._dynamo") and preloadable("transformers.LlamaConfig")
    assert not preloadable("torch") and not preloadable("torch._dynamo_x")
    # not yet shown CUDA-safe before a fork
    assert not preloadable("torch._dynamo", gpu=True)
    assert preloadable("transformers.LlamaConfig", gpu=True)
