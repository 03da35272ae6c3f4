"""A scripted learner lives a fortnight with drill (issue 6's replay): sometimes quick,
sometimes slow, sometimes wrong first, sometimes giving up, once finishing a repeat after the
day's rollover. Every command is the real CLI on a real database, `DRILL_NOW` stepped."""

import json
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_cli import rows

from drills.cli import cli
from engine.schedule import MAX_REPEATS

GOOD = {
    "add_scaled": "return x + alpha * y",
    "scale": "return alpha * x",
    "twice": "return x + x",
}
WRONG = {"add_scaled": "return x + y", "scale": "return x", "twice": "return x"}
MINUTES = 5  # every toy card's target
BEHAVIOUR = ["quick", "slow", "wrong first", "gives up", "slow", "quick", "wrong first"]


def cli_at(when: datetime, *args, ok=True) -> str:
    result = CliRunner().invoke(
        cli, list(args), env={"DRILL_NOW": when.isoformat()}, catch_exceptions=False
    )
    assert (result.exit_code == 0) == ok, result.output
    return result.output


def write(path: str, body: str) -> None:
    p = Path(path)
    start = p.read_text().split("    raise NotImplementedError")[0]
    head = (
        start if "raise" in p.read_text() else p.read_text().rsplit("    return", 1)[0]
    )
    p.write_text(f"{head}    {body}\n")


def plan_at(when):
    return json.loads(cli_at(when, "today", "--json"))["plan"]


@pytest.mark.slow
def test_a_scripted_fortnight(toy_cards, tmp_path):
    cli_at(datetime(2026, 11, 29, 7), "config", "new_per_day", "1")
    turn = 0
    for day in range(14):
        t = datetime(2026, 11, 29, 8, 0).astimezone() + timedelta(days=day)
        morning = plan_at(t)
        for _ in range(8):
            t += timedelta(minutes=1)
            now = plan_at(t)
            # the plan does not move: what was shown stays where it was, with its kind
            assert [(p["pos"], p["card"], p["kind"]) for p in now[: len(morning)]] == [
                (p["pos"], p["card"], p["kind"]) for p in morning
            ]
            pending = [p for p in now if p["status"] != "done"]
            if not pending:
                break
            started = json.loads(cli_at(t, "start", "--dir", str(tmp_path), "--json"))
            assert started["card"] == pending[0]["card"]  # start follows the plan
            card, how = started["card"], BEHAVIOUR[turn % len(BEHAVIOUR)]
            turn += 1
            if how == "gives up":
                t += timedelta(minutes=4)
                cli_at(t, "giveup")
                continue
            if how == "wrong first":
                write(started["path"], WRONG[card])
                t += timedelta(minutes=2)
                assert "min left" in cli_at(t, "check", ok=False)
            write(started["path"], GOOD[card])
            t += timedelta(minutes=MINUTES + 3 if how == "slow" else 2)
            cli_at(t, "check")
        # day 4: a card done that day is started again before the 4 am rollover and
        # finished after it: a repeat of day 4, never a second review counted early
        if day == 4:
            done = rows("select card from reviews order by id desc limit 1")[0]["card"]
            late = t.replace(hour=3, minute=50) + timedelta(days=1)
            started = json.loads(
                cli_at(late, "start", done, "--dir", str(tmp_path), "--json")
            )
            write(started["path"], GOOD[done])
            cli_at(late + timedelta(minutes=20), "check")
            spilled = rows("select * from reviews order by id desc limit 1")[0]
            assert (spilled["day"], spilled["kind"]) == (t.date().isoformat(), "repeat")

    reviews = rows("select * from reviews order by id")
    assert len(reviews) >= 12
    # no unbounded repeats: at most 1 + MAX_REPEATS reviews of a card a day
    per_day = Counter((r["card"], r["day"]) for r in reviews)
    assert max(per_day.values()) <= 1 + MAX_REPEATS, per_day
    # only a failure brings a card back the same day, and only once: never a slow pass
    agains = rows("select day, card from plans where kind = 'again'")
    assert agains, "the learner gave up, so some card came back"
    assert len(agains) == len(set(map(tuple, (a.values() for a in agains))))
    for a in agains:
        first = next(
            r for r in reviews if (r["card"], r["day"]) == (a["card"], a["day"])
        )
        assert first["quality"] < 3, a
    # intervals as the README explains them: a failure resets to 1 day; passes go 1, 6,
    # then previous x EF (rounded up); an early pass never shortens; a repeat changes nothing
    last = {}
    for r in reviews:
        prev = last.get(r["card"])
        if r["kind"] == "repeat":
            assert prev and (r["interval"], r["due"]) == (prev["interval"], prev["due"])
            continue
        if r["quality"] < 3:
            assert r["interval"] == 1 and r["repetitions"] == 0
        elif r["repetitions"] == 1:
            assert r["interval"] == 1
        elif r["repetitions"] == 2:
            assert r["interval"] == 6
        elif r["kind"] == "first":
            assert r["interval"] == -(-prev["interval"] * r["ease_x100"] // 100)
        else:
            assert r["interval"] >= prev["interval"]
        due = datetime.fromisoformat(r["day"]) + timedelta(days=r["interval"])
        assert r["due"] == due.date().isoformat()
        last[r["card"]] = r
    assert {r["kind"] for r in reviews} >= {"first", "repeat"}
    assert {3, 4, 5} <= {r["quality"] for r in reviews}
    assert max(r["interval"] for r in reviews) >= 6  # the learner does make progress
