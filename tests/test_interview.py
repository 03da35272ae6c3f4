"""An interview date (issue 8, part 4): the final week practises every high-frequency card,
and leaves SM-2 alone for the rest. Through the CLI, on real databases."""

import itertools
import json
import math
import shutil
import sqlite3
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from drills.cli import cli
from engine import interview
from engine.queue import CardInfo
from engine.schedule import CardState

ROOT = Path(__file__).resolve().parent.parent
TOY = ROOT / "tests" / "fixtures" / "cards" / "toy" / "add_scaled"
# slug -> (frequency, prerequisites): five cards at or over the threshold, two under it
BANK = {
    "hi_a": (0.7, []),
    "hi_b": (0.5, []),
    "hi_c": (0.45, []),
    "hi_d": (0.35, []),
    "hi_e": (0.3, []),
    "lo_x": (0.25, []),
    "lo_y": (0.1, []),
}


def make_bank(root: Path, cards: dict) -> Path:
    """A card bank of copies of the toy card, with these frequencies and prerequisites."""
    for slug, (frequency, prerequisites) in cards.items():
        folder = root / "toy" / slug
        shutil.copytree(TOY, folder)
        toml = (folder / "card.toml").read_text()
        toml = toml.replace('title = "Add scaled (test fixture)"', f'title = "{slug}"')
        toml = toml.replace("frequency = 0.5", f"frequency = {frequency}")
        toml = toml.replace(
            "prerequisites = []", f"prerequisites = {json.dumps(prerequisites)}"
        )
        (folder / "card.toml").write_text(toml)
    return root


class User:
    """One user's data folder, driven through the CLI."""

    def __init__(self, home: Path, bank: Path, work: Path):
        self.env = {
            "DRILL_HOME": str(home),
            "DRILL_CARDS": str(bank),
            "DRILL_WARM": "0",
        }
        self.db = home / "drill.db"
        self.work = work
        work.mkdir(parents=True, exist_ok=True)

    def run(self, *args, day: date | str, ok=True):
        env = {**self.env, "DRILL_NOW": f"{day}T09:00"}
        result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
        if ok is not None:
            assert (result.exit_code == 0) == ok, result.output
        return result.output

    def today(self, day) -> dict:
        return json.loads(self.run("today", "--json", day=day))

    def do_the_plan(self, day, quality=4) -> list[str]:
        """Work through the day's plan, each card passed with `quality`."""
        done = []
        for item in self.today(day)["plan"]:
            if item["status"] == "done":
                continue
            self.run("start", item["card"], "--dir", str(self.work), day=day)
            self.run("giveup", "--quality", str(quality), day=day)
            done.append(item["card"])
        return done

    def rows(self, sql, params=()):
        conn = sqlite3.connect(self.db)
        conn.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in conn.execute(sql, params)]
        finally:
            conn.close()


def days(first: date, last: date):
    while first <= last:
        yield first
        first += timedelta(days=1)


def test_the_final_week_practises_every_high_frequency_card_and_leaves_the_rest(
    tmp_path,
):
    """Two diligent users with one history, one with an interview date: hers practises every
    card asked in >= 30% of interviews in the final week, spread over it; the low-frequency
    cards' schedules are the same review for review; SM-2 is back after the interview."""
    bank = make_bank(tmp_path / "bank", BANK)
    plain = User(tmp_path / "plain", bank, tmp_path / "w1")
    dated = User(tmp_path / "dated", bank, tmp_path / "w2")
    start, interview_day = date(2026, 11, 20), date(2027, 1, 10)
    week = [interview_day - timedelta(days=n) for n in range(7, 0, -1)]
    dated.run("config", "interview_date", str(interview_day), day=start)
    pulled = {}
    for day in days(start, interview_day + timedelta(days=3)):
        plain.do_the_plan(day)
        plan = dated.today(day)["plan"]
        pulled[day] = [p["card"] for p in plan if p["kind"] == "interview"]
        dated.do_the_plan(day)

    high = sorted(s for s, (f, _) in BANK.items() if f >= 0.3)
    in_week = "select distinct card from reviews where day between ? and ?"
    window = (str(week[0]), str(week[-1]))
    assert sorted(r["card"] for r in dated.rows(in_week, window)) >= high
    missed = set(high) - {r["card"] for r in plain.rows(in_week, window)}
    assert missed, (
        "without a date SM-2 alone practises them all: the test shows nothing"
    )
    # pulled only in the final week, each once, spread: ceil(left / days left) a day
    assert {d for d, p in pulled.items() if p} <= set(week)
    assert sorted(c for p in pulled.values() for c in p) == sorted(missed)
    left = len(missed)
    for n, day in enumerate(week):
        assert len(pulled[day]) == math.ceil(left / (7 - n)), (day, pulled[day])
        left -= len(pulled[day])
    # a card pulled ahead of its due date is an early review: its interval never shrinks
    for card in missed:
        log = dated.rows("select * from reviews where card = ? order by id", (card,))
        early = [
            (before, r)
            for before, r in itertools.pairwise(log)
            if r["day"] in map(str, week)
        ]
        assert early and all(r["kind"] == "early" for _, r in early)
        assert all(r["interval"] >= before["interval"] for before, r in early)
    # SM-2 untouched for the rest: the same reviews, states and dates
    fields = "card, day, quality, kind, repetitions, interval, ease_x100, due"
    for card in ("lo_x", "lo_y"):
        sql = f"select {fields} from reviews where card = ? order by id"
        assert dated.rows(sql, (card,)) == plain.rows(sql, (card,)), card
    assert not any(pulled[d] for d in days(interview_day, interview_day + timedelta(3)))


def test_today_shows_the_countdown_and_what_is_left(tmp_path):
    bank = make_bank(tmp_path / "bank", BANK)
    user = User(tmp_path / "home", bank, tmp_path / "w")
    user.run("config", "new_per_day", "0", day="2026-12-01")
    user.run("config", "interview_date", "2026-12-20", day="2026-12-01")
    out = user.run("today", day="2026-12-01")
    assert "Interview in 19 days (Sun 20 Dec): the final week starts Sun 13 Dec" in out
    assert "not started yet: 5 of 5 (hi_a, hi_b, hi_c, hi_d, hi_e)" in out
    data = user.today("2026-12-16")
    assert data["interview"]["days_left"] == 4
    assert data["interview"]["phase"] == "final week"
    assert data["interview"]["unpractised"] == ["hi_a", "hi_b", "hi_c", "hi_d", "hi_e"]
    # 5 left over 4 days: 2 today, first in the plan, most asked first (none seen yet)
    assert [(p["card"], p["kind"]) for p in data["plan"]] == [
        ("hi_a", "interview"),
        ("hi_b", "interview"),
    ]
    assert data["interview"]["unpractised_in_plan"] == ["hi_a", "hi_b"]
    assert "interview in 4 days: never practised" in data["plan"][0]["reason"]
    user.do_the_plan("2026-12-16")
    out = user.run("today", day="2026-12-16")
    assert (
        "Interview in 4 days (Sun 20 Dec), final week: 3 of 5 high-frequency cards "
        "not practised this week (hi_c, hi_d, hi_e); 0 in today's plan." in out
    )
    assert "Interview today" in user.run("today", day="2026-12-20")
    assert "has passed" in user.run("today", day="2026-12-21")
    assert "interview_date cleared" in user.run(
        "config", "interview_date", "--clear", day="2026-12-21"
    )
    assert user.today("2026-12-21")["interview"] is None
    assert user.rows("select * from settings where key = 'interview_date'") == []


def test_a_date_set_during_the_final_week_joins_todays_plan_once(tmp_path):
    bank = make_bank(tmp_path / "bank", BANK)
    user = User(tmp_path / "home", bank, tmp_path / "w")
    user.run("config", "new_per_day", "1", day="2026-12-18")
    assert [p["card"] for p in user.today("2026-12-18")["plan"]] == ["hi_a"]  # fixed
    user.run("config", "interview_date", "2026-12-20", day="2026-12-18")
    plan = [(p["card"], p["kind"]) for p in user.today("2026-12-18")["plan"]]
    # ceil(5 / 2 days) = 3 cards today: hi_a (already planned), then hi_b and hi_c join
    assert plan == [("hi_a", "new"), ("hi_b", "interview"), ("hi_c", "interview")]
    user.do_the_plan("2026-12-18")
    plan = [(p["card"], p["kind"]) for p in user.today("2026-12-18")["plan"]]
    assert len(plan) == 3  # nothing more joins today: the share is the day's
    plan = [(p["card"], p["kind"]) for p in user.today("2026-12-19")["plan"]]
    assert plan[:2] == [("hi_d", "interview"), ("hi_e", "interview")]
    assert {c for c, kind in plan[2:]} == {"hi_a", "hi_b", "hi_c"}  # due by SM-2


@pytest.mark.parametrize(
    "args, message",
    [
        (["interview_date", "2026-11-28"], "is in the past (today is 2026-11-29)"),
        (["interview_date", "2026-02-30"], "not a date: '2026-02-30' (no such day)"),
        (["interview_date", "20/12/2026"], "write it YYYY-MM-DD"),
        (["interview_date", "2026-12-1"], "write it YYYY-MM-DD"),
        (["interview_dat", "2026-12-20"], "unknown setting 'interview_dat'"),
        (["colour", "--clear"], "unknown setting 'colour'"),
        (["colour"], "unknown setting 'colour'"),
    ],
)
def test_bad_config_is_one_line_and_a_failure(tmp_path, args, message):
    env = {
        "PATH": "/usr/bin:/bin",
        "DRILL_HOME": str(tmp_path),
        "DRILL_NOW": "2026-11-29T09:00",
        "PYTHONPATH": str(ROOT),
        "TZ": "UTC",
    }
    out = subprocess.run(
        [sys.executable, "-m", "drills", "config", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert out.returncode == 1
    assert out.stdout == "" and out.stderr.count("\n") == 1, out.stderr
    assert message in out.stderr and "Traceback" not in out.stderr


def test_config_shows_the_date_and_today_stays_light(tmp_path):
    user = User(tmp_path / "home", make_bank(tmp_path / "bank", BANK), tmp_path / "w")
    out = user.run("config", "interview_date", "2026-12-20", day="2026-12-15")
    assert out.startswith("interview_date = 2026-12-20 (in 5 days;")
    assert "every card asked in >= 30% of interviews" in out
    assert "interview_date = 2026-12-20" in user.run("config", day="2026-12-15")
    probe = (
        "import sys; sys.argv = ['drill', 'today']; from drills.fast import main; main();"
        " print([m for m in ('click', 'sqlite_utils', 'icalendar', 'torch') "
        "if m in sys.modules])"
    )
    env = {
        **user.env,
        "PATH": "/usr/bin:/bin",
        "DRILL_NOW": "2026-12-15T09:00",
        "PYTHONPATH": str(ROOT),
        "TZ": "UTC",
    }
    for _ in range(2):  # the first may create the plan
        out = subprocess.run(
            [sys.executable, "-c", probe],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=True,
        ).stdout
    assert "Interview in 5 days" in out
    assert out.strip().splitlines()[-1] == "[]"


# -- the rule itself, table-driven ------------------------------------------------------------
def _info(slug, frequency, minutes=10, prerequisites=()):
    return CardInfo(slug, slug, frequency, minutes, tuple(prerequisites))


def _state(slug, due, reviews=1):
    return CardState(slug, 2, 6, 250, due, None, "2026-12-01", 0, reviews, "2026-11-01")


CARDS = {
    c.slug: c
    for c in [
        _info("attention", 0.7),
        _info("mha", 0.6, prerequisites=["attention"]),
        _info("rope", 0.45),
        _info("lora", 0.3),
        _info("swiglu", 0.15),
    ]
}


@pytest.mark.parametrize(
    "day, states, practised, passed, expected",
    [
        # before the final week: nothing is pulled
        ("2026-12-12", {}, set(), set(), []),
        # 4 left, 7 days: 1 today; never-seen first, most asked first
        ("2026-12-13", {}, set(), set(), ["attention"]),
        # mha waits behind cards whose prerequisites are passed
        ("2026-12-18", {}, set(), set(), ["attention", "rope"]),
        ("2026-12-19", {}, set(), set(), ["attention", "rope", "lora", "mha"]),
        # seen cards by due date: the best known (due last) come last, closest to the day
        (
            "2026-12-17",
            {
                "attention": _state("attention", "2027-03-01"),
                "mha": _state("mha", "2026-12-30"),
                "rope": _state("rope", "2026-12-10"),
                "lora": _state("lora", "2027-01-05"),
            },
            set(),
            {"attention"},
            ["rope", "mha"],
        ),
        # practised this week: done; the low-frequency card never counts
        ("2026-12-19", {}, {"attention", "mha", "rope", "lora"}, set(), []),
        # the interview day and after: nothing
        ("2026-12-20", {}, set(), set(), []),
    ],
)
def test_the_share(day, states, practised, passed, expected):
    share = interview.share(
        CARDS,
        states,
        date.fromisoformat(day),
        date(2026, 12, 20),
        practised,
        passed,
    )
    assert [e.slug for e in share] == expected
    assert {e.kind for e in share} <= {"interview"}
