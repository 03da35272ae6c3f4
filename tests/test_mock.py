"""Timed mock interviews (issue 8, part 1) as a user lives them: real `drill mock` processes on
the toy bank, a clock moved by DRILL_NOW and sped up by DRILL_MOCK_SPEED, checks from another
"terminal", a terminal closed mid-session (SIGKILL), --resume, --finish, the scorecard and
its comparison with earlier mocks, and what the sessions do to the SM-2 schedule."""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_cli import rows

from drills.cli import cli
from engine import mock as rules
from engine.schedule import CardState

ROOT = Path(__file__).resolve().parent.parent
TOY = ROOT / "tests" / "fixtures" / "cards"
GOOD = {
    "add_scaled": "return x + alpha * y",
    "scale": "return alpha * x",
    "twice": "return x + x",
}
DAY = date(2026, 11, 29)


# -- the rules (engine.mock) -------------------------------------------------------------------
def state(ease=250, lapses=0, reviews=3, due="2026-12-10"):
    return CardState(
        "c", 2, 6, ease, due, None, "2026-11-20", lapses, reviews, "2026-11-01"
    )


@pytest.mark.parametrize(
    "s, expected",
    [
        (None, 1.25),  # never reviewed: middling
        (state(), 0.25),  # strong, not due: the floor
        (state(ease=130), 1.25),  # the lowest ease
        (state(lapses=3, reviews=3), 1.25),  # failed every time
        (state(due="2026-11-29"), 0.75),  # due today
        (state(ease=190, lapses=1, reviews=2, due="2026-11-01"), 1.75),
    ],
)
def test_weakness(s, expected):
    assert rules.weakness(s, DAY) == pytest.approx(expected)


def pool():
    C = rules.Candidate
    return [
        C("attention", 12, ("attention",), 0.9),
        C("mha", 20, ("attention",), 0.9),
        C("rope", 15, ("positions",), 0.5),
        C("bpe", 25, ("tokenizers",), 0.4),
        C("rmsnorm", 8, ("norms",), 0.3),
        C("llama", 45, ("models",), 0.2),
    ]


def test_the_set_fits_the_session_and_the_seed_decides_it():
    for seed in range(40):
        chosen = rules.pick(pool(), 45, None, random.Random(seed))
        assert 1 <= len(chosen) <= 3 and sum(c.minutes for c in chosen) <= 45
        assert len({c.slug for c in chosen}) == len(chosen)
        again = rules.pick(list(reversed(pool())), 45, None, random.Random(seed))
        assert again == chosen  # the bank's order does not matter; the seed does
    assert len(rules.pick(pool(), 45, 5, random.Random(1))) == 5  # --cards wins
    assert len(rules.pick(pool(), 45, 9, random.Random(1))) == 6  # all there are
    # nothing fits: the shortest
    (only,) = rules.pick(pool(), 5, None, random.Random(1))
    assert only.slug == "rmsnorm"


def test_weight_and_topic_spread_shape_the_set():
    firsts = [rules.pick(pool(), 45, 1, random.Random(s))[0].slug for s in range(2000)]
    share = {slug: firsts.count(slug) / len(firsts) for slug in set(firsts)}
    assert share["attention"] > share["rope"] > share["llama"]
    assert share["attention"] == pytest.approx(0.9 / 3.2, abs=0.04)
    # attention and mha share a topic: after one, the other is drawn at a third of its weight
    pairs = [rules.pick(pool(), 200, 2, random.Random(s)) for s in range(2000)]
    both = sum({c.slug for c in p} == {"attention", "mha"} for p in pairs) / len(pairs)
    assert both < 0.12  # without the spread rule it is about 0.2


@pytest.mark.parametrize(
    "before, now, warned",
    [
        (None, 1500, []),
        (320, 299, [300]),
        (299, 200, []),
        (61, 59, [60]),
        (400, 30, [300, 60]),  # a long tick: both
        (10, 0, []),  # time is up: that is not a warning
        (None, 200, [300]),  # resumed inside the last five minutes
        (None, 40, [60]),
    ],
)
def test_warnings(before, now, warned):
    assert rules.crossed(before, now) == warned


# -- helpers: real `drill` processes ---------------------------------------------------------
def bank(tmp_path) -> Path:
    """The toy bank, with the companies and topics card.toml files carry in the real one."""
    root = tmp_path / "cards"
    shutil.copytree(TOY, root)
    extra = {
        "add_scaled": ('["arithmetic"]', '["Acme", "Initech"]'),
        "scale": ('["scaling"]', '["Initech"]'),
        "twice": ('["arithmetic"]', '["Acme"]'),
    }
    for slug, (topics, companies) in extra.items():
        toml = root / "toy" / slug / "card.toml"
        text = toml.read_text().replace('topics = ["fixture"]', f"topics = {topics}")
        toml.write_text(text + f"companies = {companies}\n")
    return root


def env(**extra):
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}


def drill(*args, when, **extra):
    return subprocess.Popen(
        [sys.executable, "-m", "drills", *args],
        env=env(DRILL_NOW=when, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def start_mock(*args, when="2026-11-29T09:00:00+00:00"):
    """`drill mock --no-live ...` with the clock stopped; returns the process and the files."""
    proc = drill("mock", "--no-live", *args, when=when, DRILL_MOCK_SPEED="0.0001")
    lines = []
    while not lines or not lines[-1].startswith("Grade a problem"):
        line = proc.stdout.readline()
        assert line, "".join(lines) + proc.stdout.read()
        lines.append(line)
    paths = {
        Path(x.strip()).name.split("_", 1)[1][:-3]: Path(x.strip())
        for x in lines
        if x.startswith("     /")
    }
    return proc, paths, "".join(lines)


def wait_for_line(proc, text, timeout=30):
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        seen.append(line)
        if text in line:
            return "".join(seen)
    raise AssertionError(f"no line with {text!r} in {''.join(seen)!r}")


def close_terminal(proc):
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def solve(path: Path, card: str):
    path.write_text(path.read_text().replace("raise NotImplementedError", GOOD[card]))


def cli_run(*args, when, ok=True, **extra):
    result = CliRunner().invoke(
        cli, list(args), env={"DRILL_NOW": when, **extra}, catch_exceptions=False
    )
    if ok is not None:
        assert (result.exit_code == 0) == ok, result.output
    return result.output


# -- sessions ------------------------------------------------------------------------------------
def test_a_session_survives_the_terminal_closing_and_ends_at_its_deadline(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("DRILL_CARDS", str(bank(tmp_path)))
    proc, files, shown = start_mock("--minutes", "10", "--cards", "2", "--seed", "4")
    assert "2 problems, 10 min, deadline 09:10 (seed 4)" in shown
    assert len(files) == 2 and all(p.is_file() for p in files.values())
    first, second = sorted(files, key=lambda c: files[c].name)
    header = files[first].read_text()
    assert "Mock interview, problem 1 of 2" in header and "deadline 09:10" in header
    # another terminal: a check of the session's file counts for the session...
    solve(files[first], first)
    out = cli_run("check", str(files[first]), when="2026-11-29T09:03:00+00:00")
    assert "PASS" in out and "quality 5" in out
    # ... and the display, which reads the store, shows it
    wait_for_line(proc, f"1 {first}: PASS")
    close_terminal(proc)
    out = cli_run("mock", when="2026-11-29T09:04:00+00:00", ok=False)
    assert "in progress (6:00 left)" in out and "--resume" in out
    assert "Traceback" not in out
    # resumed against the same absolute deadline, the clock 300x fast
    out = cli_run(
        "mock",
        "--resume",
        "--no-live",
        when="2026-11-29T09:04:00+00:00",
        DRILL_MOCK_SPEED="300",
    )
    assert "6:00 left (deadline 09:10)" in out
    assert out.index("Warning: 5 min left") < out.index("Warning: 1 min left")
    assert out.index("Warning: 1 min left") < out.index("Time is up")
    assert f"2 {second}: FAIL" in out and "ended at the deadline" in out
    mock = rows("select * from mocks")[0]
    assert mock["ended_at"] == "2026-11-29T09:10:00+00:00"
    assert mock["end_reason"] == "deadline" and mock["seed"] == 4
    problems = rows(
        "select card, status, passed, total, used_s, quality from mock_problems"
    )
    assert problems == [
        {
            "card": first,
            "status": "pass",
            "passed": problems[0]["total"],
            "total": problems[0]["total"],
            "used_s": 180.0,
            "quality": 5,
        },
        {
            "card": second,
            "status": "fail",
            "passed": 0,
            "total": problems[1]["total"],
            "used_s": 600.0,
            "quality": 0,
        },
    ]
    assert problems[1]["total"] > 0
    # each problem was one review, like any attempt: a pass in time, a failure at the bell
    assert rows("select card, quality, source, kind from reviews order by id") == [
        {"card": first, "quality": 5, "source": "check", "kind": "first"},
        {"card": second, "quality": 0, "source": "mock", "kind": "first"},
    ]
    assert rows("select card, outcome from attempts order by id") == [
        {"card": first, "outcome": "pass"},
        {"card": second, "outcome": "time_up"},
    ]
    assert rows("select count(*) n from schedule") == [{"n": 2}]


def test_finish_early_the_scorecard_compares_and_sm2_steps(tmp_path, monkeypatch):
    monkeypatch.setenv("DRILL_CARDS", str(bank(tmp_path)))
    proc, files, _ = start_mock("--cards", "3", "--seed", "1")
    close_terminal(proc)
    solve(files["scale"], "scale")
    files["twice"].write_text(
        files["twice"].read_text().replace("raise NotImplementedError", "return x")
    )
    card = json.loads(
        cli_run("mock", "--finish", "--json", when="2026-11-29T09:20:00+00:00")
    )
    assert card["end_reason"] == "finish" and card["earlier_sessions"] == 0
    got = {
        p["card"]: (p["status"], p["quality"], p["used_s"]) for p in card["problems"]
    }
    assert got == {
        "scale": ("pass", 5, 1200),  # passed at the end, first check, in time
        "twice": ("fail", 0, 1200),
        "add_scaled": ("fail", 0, 1200),
    }
    assert card["solved"] == 1 and card["problems"][0]["next_due"] is not None
    assert rows("select ended_at from mocks") == [
        {"ended_at": "2026-11-29T09:20:00+00:00"}
    ]
    out = cli_run("mock", "--finish", when="2026-11-29T09:21:00+00:00", ok=False)
    assert "no mock interview in progress" in out
    # two days later: a second mock is compared with the first, per card and as a session
    when = "2026-12-01T09:00:00+00:00"
    proc, files, _ = start_mock("--cards", "3", "--seed", "2", when=when)
    close_terminal(proc)
    for slug in ("scale", "twice"):
        solve(files[slug], slug)
    out = cli_run("mock", "--finish", when="2026-12-01T09:30:00+00:00")
    assert "Earlier mocks (1): solved 33% of problems" in out
    assert "FAIL 0/1 11-29" in out  # twice's line: how it went last time
    card = json.loads(cli_run("mock", "--history", "--json", when=when))[-1]
    assert card["solved"] == 2 and card["earlier_sessions"] == 1
    twice = next(p for p in card["problems"] if p["card"] == "twice")
    assert twice["earlier"] == [
        {"day": "2026-11-29", "status": "fail", "passed": 0, "total": 1, "used_s": 1200}
    ]
    # SM-2 as any attempt: scale passed twice (interval 1 then 6); twice failed, then passed
    sched = {r["card"]: r for r in rows("select * from schedule")}
    assert (sched["scale"]["repetitions"], sched["scale"]["interval"]) == (2, 6)
    assert (sched["twice"]["repetitions"], sched["twice"]["interval"]) == (1, 1)
    assert sched["twice"]["lapses"] == 1
    assert "2/3" in cli_run("mock", "--history", when=when)


def test_the_set_follows_company_and_topic(tmp_path, monkeypatch):
    monkeypatch.setenv("DRILL_CARDS", str(bank(tmp_path)))
    proc, files, _ = start_mock("--company", "acme", "--cards", "5")
    close_terminal(proc)
    assert sorted(files) == ["add_scaled", "twice"]
    cli_run("mock", "--finish", when="2026-11-29T09:01:00+00:00")
    proc, files, _ = start_mock("--topic", "Scaling", when="2026-11-29T10:00:00+00:00")
    close_terminal(proc)
    assert sorted(files) == ["scale"]
    # back after the deadline: graded as the files stand, the session ended at its deadline
    out = cli_run("mock", "--resume", "--no-live", when="2026-11-29T10:50:00+00:00")
    assert "The deadline (10:45) passed while no `drill mock` was running" in out
    assert rows("select ended_at, end_reason from mocks where id = 2") == [
        {"ended_at": "2026-11-29T10:45:00+00:00", "end_reason": "deadline"}
    ]
    for args, words in [
        (["--company", "Nobody"], "is asked at 'Nobody'; companies: Acme, Initech"),
        (
            ["--topic", "nope"],
            "no card has the topic 'nope'; topics: arithmetic, scaling",
        ),
        (["--resume", "--minutes", "5"], "--resume takes no --minutes"),
        (["--resume"], "no mock interview in progress"),
    ]:
        out = cli_run("mock", *args, when="2026-11-29T11:00:00+00:00", ok=False)
        assert words in out and "Traceback" not in out
    assert rows("select count(*) n from mocks") == [{"n": 2}]


def test_the_live_display_on_a_terminal(tmp_path, monkeypatch):
    """On a terminal (a pty here) the session is a table redrawn in place; the warnings and
    the scorecard print above and below it."""
    import pty

    monkeypatch.setenv("DRILL_CARDS", str(bank(tmp_path)))
    main, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "drills", "mock", "--minutes", "2", "--cards", "1"],
        env=env(DRILL_NOW="2026-11-29T09:00:00+00:00", DRILL_MOCK_SPEED="120",
                TERM="xterm", COLUMNS="110"),
        stdin=secondary, stdout=secondary, stderr=secondary,
    )  # fmt: skip
    os.close(secondary)
    out = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the terminal's other end closed: drill exited
            break
        if not chunk:
            break
        out += chunk
    os.close(main)
    assert proc.wait(timeout=60) == 0
    text = out.decode(errors="replace")
    # drawn live
    assert "\x1b[" in text and "Mock interview:" in text and "left" in text
    assert "not checked yet" in text and "deadline 09:02" in text
    assert "Warning: 1 min left" in text and "Time is up" in text
    assert "Solved 0 of 1" in text
