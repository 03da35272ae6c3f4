"""The weak-topic report (issue 8, part 2): engine.report's figures as table tests, then
`drill report` through the CLI on a history lived through drill's own attempt code."""

import json
import random
import re
import shutil
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from drills.cli import cli
from engine import report
from engine.report import CardFacts
from engine.schedule import CardState

ROOT = Path(__file__).resolve().parent.parent
TOY = ROOT / "tests" / "fixtures" / "cards" / "toy" / "add_scaled"
EVIL_TITLE = '<script>alert("title")</script> & <b>bold</b>'
EVIL_TOPIC = "<img src=x onerror=alert(1)>"
# slug -> (title, topics, frequency, minutes): a small bank with overlapping topics
BANK = {
    "attention": ("Multi-head attention", ["attention", "transformers"], 0.9, 20),
    "rope": ("Rotary embeddings", ["attention", "positional"], 0.6, 15),
    "layernorm": ("LayerNorm", ["normalization"], 0.5, 10),
    "adamw": ("AdamW", ["optimizers", "training"], 0.55, 15),
    "bpe": ("Byte-pair encoding", ["tokenization"], 0.45, 25),
    "kv_cache": ("KV cache decoding", ["inference", "transformers"], 0.7, 20),
    "evil": (EVIL_TITLE, [EVIL_TOPIC, "security"], 0.3, 10),
    "sampling": ("Top-p sampling", ["inference", "decoding"], 0.35, 10),
}


def make_bank(folder: Path) -> Path:
    """Toy card folders (the add_scaled files) with the BANK's metadata."""
    for slug, (title, topics, freq, minutes) in BANK.items():
        dest = folder / "toy" / slug
        shutil.copytree(TOY, dest)
        toml = (dest / "card.toml").read_text()
        toml = toml.replace(
            'title = "Add scaled (test fixture)"', f"title = {json.dumps(title)}"
        )
        toml = toml.replace('topics = ["fixture"]', f"topics = {json.dumps(topics)}")
        toml = toml.replace("frequency = 0.5", f"frequency = {freq}")
        toml = toml.replace("minutes = 5", f"minutes = {minutes}")
        (dest / "card.toml").write_text(toml)
    return folder


# Skill per card: the chance an attempt passes, and how fast (share of the target).
# "sampling" is never practised
SKILL = {
    "attention": (0.35, 1.4),
    "rope": (0.5, 1.2),
    "layernorm": (0.95, 0.5),
    "adamw": (0.85, 0.7),
    "bpe": (0.6, 1.1),
    "kv_cache": (0.4, 1.3),
    "evil": (0.2, 1.5),
}


def live(days: int, end: datetime, work: Path, seed: int = 8) -> int:
    """A learner's `days` days up to `end`, through drill's attempt code (start, a pass
    or a give-up); returns the attempts made."""
    from drills import attempts
    from drills.app import reader

    rng = random.Random(seed)
    made = 0
    for d in range(days, 0, -1):
        if rng.random() < 0.25:
            continue  # a day off
        t = end - timedelta(days=d)
        states = reader().states()
        due = [  # as a learner following the schedule: due or new cards
            c
            for c in sorted(SKILL)
            if c not in states or states[c].due <= t.date().isoformat()
        ]
        for slug in rng.sample(due, min(len(due), rng.randint(1, 3))):
            p_pass, pace = SKILL[slug]
            s = attempts.start(slug, t, work, also=True)
            used = BANK[slug][3] * pace * rng.uniform(0.7, 1.3)
            t = t + timedelta(minutes=used)
            if rng.random() < p_pass:
                verdict = {
                    "card": slug,
                    "status": "pass",
                    "passed": 4,
                    "failed": 0,
                    "duration_s": 0.2,
                    "device": "cpu",
                    "tests": [],
                }
                attempts.record_verdict(
                    attempts.target(s.path, slug), verdict, t, quality=None
                )
            else:
                attempts.give_up(slug, t)
            made += 1
            t += timedelta(minutes=5)
    return made


@pytest.fixture
def history(tmp_path, monkeypatch):
    """A bank with an escaped-text trap and 60 days of history; returns the report's day."""
    monkeypatch.setenv("DRILL_CARDS", str(make_bank(tmp_path / "bank")))
    monkeypatch.setenv("DRILL_WARM", "0")  # seeding starts no grader
    end = datetime(2026, 11, 29, 9, 0).astimezone()
    work = tmp_path / "work"
    work.mkdir()
    made = live(60, end, work)
    assert made > 40
    return end


def cli_run(*args, ok=True):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert (result.exit_code == 0) == ok, result.output
    return result


# -- engine.report: table tests -----------------------------------------------------------------
TODAY = date(2026, 11, 29)


def state(due: str, interval: int, ease=250, lapses=0):
    return CardState(
        "x", 1, interval, ease, due, None, "2026-11-01", lapses, 1, "2026-11-01"
    )


@pytest.mark.parametrize(
    "qualities, due, interval, expected",
    [
        ([], "2026-11-29", 1, 0.0),  # never reviewed
        ([5], "2026-11-30", 1, 1.0),  # perfect, not due yet
        ([0, 5, 4], "2026-11-29", 6, 0.6),  # mean of the last three: 9/15; due today
        ([1, 1, 5, 5, 5], "2026-12-05", 6, 1.0),  # only the last three count
        ([5], "2026-11-23", 6, 0.5),  # six days overdue at interval 6: half as fresh
        ([4], "2026-11-19", 10, 0.4),  # 0.8 * 10 / 20
    ],
)
def test_card_strength(qualities, due, interval, expected):
    got = report.card_strength(qualities, state(due, interval), TODAY)
    assert got == pytest.approx(expected)


def rev(i, card, day, q):
    return {
        "id": i,
        "card": card,
        "at": f"{day}T10:00:{i:02d}+00:00",
        "day": day,
        "quality": q,
    }


def att(card, day, minutes, outcome="pass"):
    start = datetime.fromisoformat(f"{day}T10:00:00+00:00")
    end = start + timedelta(minutes=minutes)
    return {
        "card": card,
        "day": day,
        "started_at": start.isoformat(),
        "ended_at": end.isoformat(),
        "outcome": outcome,
    }


CARDS = {
    "a": CardFacts("a", "A", ("attn",), "llm", 0.8, 20),
    "b": CardFacts("b", "B", ("attn", "norm"), "llm", 0.5, 10),
    "c": CardFacts("c", "C", (), "gpu", 0.2, 30),  # no topics: counted in its track
}


def test_topics_weigh_weakness_by_frequency():
    states = {
        "a": state("2026-11-20", 10, ease=170, lapses=2)._replace(card="a"),
        "b": state("2026-12-10", 6, ease=260)._replace(card="b"),
    }
    reviews = [
        rev(1, "a", "2026-11-01", 1),
        rev(2, "a", "2026-11-10", 3),
        rev(3, "b", "2026-11-25", 5),
    ]
    attempts = [
        att("a", "2026-11-10", 30),
        att("b", "2026-11-25", 5),
        att("a", "2026-11-01", 9, "giveup"),
    ]
    rows = {t.topic: t for t in report.topics(CARDS, states, reviews, attempts, TODAY)}
    assert list(rows) == ["attn", "gpu", "norm"]  # weakest first
    attn, norm, gpu = rows["attn"], rows["norm"], rows["gpu"]
    # a: quality mean 2 of 5 -> 0.4, overdue 9 days at interval 10 -> x 10/19; b: 1.0
    a_strength = 0.4 * 10 / 19
    assert attn.strength == pytest.approx((0.8 * a_strength + 0.5 * 1.0) / 1.3)
    assert attn.asked == pytest.approx(1 - 0.2 * 0.5)
    assert attn.weakness == round(100 * attn.asked * (1 - attn.strength), 1)
    assert (attn.cards, attn.practised, attn.attempts, attn.lapses, attn.overdue) == (
        2,
        2,
        3,
        2,
        1,
    )
    assert attn.pass_rate == pytest.approx(
        2 / 3
    ) and attn.mean_quality == pytest.approx(3)
    assert attn.ease == pytest.approx((1.7 + 2.6) / 2)
    assert attn.median_solve_min == 17.5 and attn.solve_vs_target == pytest.approx(1.0)
    assert attn.weakest_card == "a"
    assert (norm.strength, norm.weakness, norm.overdue) == (1.0, 0.0, 0)
    assert (gpu.practised, gpu.pass_rate, gpu.strength, gpu.weakness) == (
        0,
        None,
        0.0,
        20.0,
    )


def test_forecast_counts_overdue_today_and_ignores_cards_gone_from_the_bank():
    states = {
        "a": state("2026-11-20", 10)._replace(card="a"),  # overdue: today
        "b": state("2026-12-01", 6)._replace(card="b"),
        "gone": state("2026-11-29", 1)._replace(card="gone"),
        "c": state("2027-03-01", 60)._replace(card="c"),  # past the 30 days
    }
    load = report.forecast(CARDS, states, TODAY)
    assert (
        len(load) == 30 and load[0][0] == "2026-11-29" and load[-1][0] == "2026-12-28"
    )
    assert [(d, n, m) for d, n, m in load if n] == [
        ("2026-11-29", 1, 20),
        ("2026-12-01", 1, 10),
    ]


def test_daily_practice_has_every_day_of_the_window():
    days = report.daily_practice(
        [
            rev(1, "a", "2026-11-29", 4),
            rev(2, "b", "2026-11-29", 2),
            rev(3, "a", "2026-11-02", 5),
        ],
        TODAY,
        weeks=5,
    )
    assert len(days) == 35 and list(days)[-1] == "2026-11-29"
    assert (
        days["2026-11-29"] == 2 and days["2026-11-02"] == 1 and sum(days.values()) == 3
    )


# -- drill report, through the CLI ---------------------------------------------------------------
def test_report_text_and_json_agree_with_the_database(history):
    import sqlite3

    from engine import paths

    out = cli_run("report").output
    data = json.loads(cli_run("report", "--json").output)
    conn = sqlite3.connect(paths.db_path())
    reviews = conn.execute("select count(*) from reviews").fetchone()[0]
    assert data["summary"]["attempts"] == reviews
    assert data["summary"]["practised"] == len(SKILL) and data["summary"][
        "cards"
    ] == len(BANK)
    weakest = data["weakest"]
    assert len(weakest) == 3
    assert [w["topic"] for w in weakest] == [t["topic"] for t in data["topics"][:3]]
    scores = [t["weakness"] for t in data["topics"]]
    assert scores == sorted(scores, reverse=True)
    for i, w in enumerate(weakest, 1):
        assert f"{i}. {w['topic']}: weakness" in out and w["command"] in out
        assert w["command"].startswith("drill start ")
    # the well-practised topic is strong; the unpractised card's topic is not
    topics = {t["topic"]: t for t in data["topics"]}
    assert topics["normalization"]["strength"] > topics["decoding"]["strength"] == 0
    assert topics["decoding"]["command"] == "drill start sampling"
    per_card = conn.execute(
        "select card, count(*), sum(quality >= 3) from reviews group by card"
    ).fetchall()
    n, passed = (sum(r[i] for r in per_card if r[0] in ("layernorm",)) for i in (1, 2))
    assert topics["normalization"]["attempts"] == n
    assert topics["normalization"]["pass_rate"] == pytest.approx(passed / n)
    assert len(data["forecast"]) == 30
    assert data["interview"] is None and "Interview" not in out


def test_report_shows_days_left_and_unpractised_cards_with_an_interview_date(history):
    from engine import paths
    from engine.store import Store

    Store(paths.db_path()).set_setting("interview_date", "2026-12-13")
    data = json.loads(cli_run("report", "--json").output)["interview"]
    assert (data["date"], data["days_left"], data["phase"]) == (
        "2026-12-13",
        14,
        "before",
    )
    # the one high-frequency card (>= 30%) never practised; "evil" (30%) was practised
    assert data["unpractised"] == ["sampling"] and data["high_frequency_cards"] == 8
    line = "Interview on 2026-12-13: 14 days left; 1 of 8 high-frequency cards"
    assert line in cli_run("report").output
    # in the final week, "unpractised" means not practised this week (as `drill today`)
    week = json.loads(
        CliRunner()
        .invoke(cli, ["report", "--json"], env={"DRILL_NOW": "2026-12-09T09:00"})
        .output
    )["interview"]
    assert week["phase"] == "final week" and week["days_left"] == 4
    assert set(week["unpractised"]) == set(BANK)  # nothing reviewed since Dec 6


def test_report_on_a_fresh_database_and_a_bad_html_path(
    toy_cards, tmp_path, monkeypatch
):
    out = cli_run("report").output
    assert "0 of 3 cards practised" in out and "drill start" in out
    monkeypatch.delenv("DRILL_CARDS")  # the real bank: more topics than the table shows
    short, every = cli_run("report").output, cli_run("report", "--all").output
    topics = json.loads(cli_run("report", "--json").output)["topics"]
    assert len(topics) > 15 and f"and {len(topics) - 15} more topics" in short
    assert all(f"\n{t['topic'][:21]}" in every for t in topics)
    bad = cli_run(
        "report", "--html", str(tmp_path / "no" / "such" / "r.html"), ok=False
    )
    assert bad.output.count("\n") == 1 and "Error: cannot write" in bad.output
    assert "create it first" in bad.output
    assert "Traceback" not in bad.output


def test_html_page_is_self_contained_and_escapes_user_text(history, tmp_path):
    page = tmp_path / "report.html"
    out = cli_run("report", "--html", str(page)).output
    assert f"wrote {page}" in out
    text = page.read_text()
    assert "<script" not in text.lower() and "onerror=alert" not in text.replace(
        "&lt;img src=x onerror=alert(1)&gt;", ""
    )
    assert (
        "&lt;script&gt;alert(" in text and "&lt;img src=x onerror=alert(1)&gt;" in text
    )
    fetches = re.findall(
        r"""(?:src|href)\s*=\s*["']?(?!data:|#)[a-z]+:|url\(\s*["']?http|@import|<link""",
        text,
        re.IGNORECASE,
    )
    assert fetches == [] and "<metadata>" not in text
    for chart in ("heatmap", "strength", "forecast", "solve"):
        assert (
            f"id='chart-{chart}' data-has-data='1'" in text
            and f'id="data-{chart}' in text
        )


def test_report_without_html_imports_no_charting_library(toy_cards):
    code = (
        "import sys; from drills.fast import main\n"
        "try: main(['report'])\n"
        "except SystemExit: pass\n"
        "heavy = [m for m in ('matplotlib', 'numpy', 'torch') if m in sys.modules]\n"
        "print('HEAVY', heavy)"
    )

    def report():
        return subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout

    report()  # the first run creates the database (sqlite-utils' migrations load numpy)
    out = report()
    assert "HEAVY []" in out and "Weak-topic report" in out
