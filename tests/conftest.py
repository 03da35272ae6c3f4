import os
import time
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
TOY_CARDS = FIXTURES / "cards"
ATTEMPTS = FIXTURES / "attempts"


@pytest.fixture(autouse=True)
def hermetic(tmp_path, monkeypatch):
    """No test touches real state: a fresh data directory and a fixed clock."""
    monkeypatch.setenv("DRILL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DRILL_NOW", "2026-11-29T09:00:00+00:00")
    monkeypatch.delenv("DRILL_CARDS", raising=False)
    monkeypatch.delenv("DRILL_TIMEOUT", raising=False)
    monkeypatch.setenv("TZ", "UTC")
    # a safety net; the teardown stops it
    monkeypatch.setenv("DRILL_GRADER_IDLE", "120")
    monkeypatch.delenv("DRILL_WARM", raising=False)
    from drills.grading import client

    spawned = []
    spawn = client.spawn
    monkeypatch.setattr(
        client, "spawn", lambda *a, **k: spawned.append(spawn(*a, **k)) or spawned[-1]
    )
    yield
    stop_grader()
    # one `drill start` warmed in the background, maybe still starting
    for process in spawned:
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            if protocol_answers():
                client.stop()
            time.sleep(0.05)


def protocol_answers() -> bool:
    from drills.grading import protocol

    return protocol.answers(protocol.socket_path())


def stop_grader():
    """Stop the warm grader a test started in its data directory, if any (`drill start` starts
    one in the background: it may still be importing torch)."""
    import fcntl
    import time

    from drills.grading import client, protocol

    lock = protocol.socket_path() + ".lock"
    if not os.path.exists(lock):
        return
    with open(lock) as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return  # nobody holds it: no grader alive
        except OSError:
            pass
    deadline = time.monotonic() + 60
    while not protocol.answers(protocol.socket_path()) and time.monotonic() < deadline:
        time.sleep(0.05)
    client.stop()


@pytest.fixture
def toy_cards(monkeypatch):
    monkeypatch.setenv("DRILL_CARDS", str(TOY_CARDS))
    return TOY_CARDS


@pytest.fixture
def toy_card(toy_cards):
    from engine.catalog import load_catalog

    return load_catalog()["add_scaled"]


def pytest_configure(config):
    os.environ.setdefault("TZ", "UTC")
