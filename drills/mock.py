"""`drill mock`: timed mock-interview sessions, without the printing (drills.mockview).

A session is one row of `mocks` with an absolute deadline, and one attempt per problem (tagged
with the session), so `drill check`, `hint` and `giveup` work on a problem as on any attempt.
At the deadline (or `--finish`) every problem still open is graded as its file stands and ends
with a review: each problem's grading is one transaction, and the session ends in another, so a
process killed in between leaves the rest for `--resume` / `--finish` to grade. The rules
(which set, when to warn, how to compare) are engine.mock."""

from __future__ import annotations

import json
import os
import random
import time
from collections import namedtuple
from datetime import datetime, timedelta
from pathlib import Path

from drills.app import cards, setting, store
from drills.errors import DrillError
from engine import mock as rules
from engine import mockdb, paths
from engine.clock import from_iso, iso, study_day

Problem = namedtuple(
    "Problem",
    "pos card title path attempt_id status passed total used_s quality ended_at outcome"
    " checks best_passed best_total weight",
)
Session = namedtuple(
    "Session",
    "id started deadline minutes folder seed topic company ended_at end_reason problems",
)


# -- reading -----------------------------------------------------------------------------------
def _active_row(db):
    return mockdb.active(db)


def load(db, mock_id: int) -> Session:
    m = mockdb.session(db, mock_id)
    catalog = cards()
    problems = []
    for p in mockdb.problems(db, mock_id):
        c = catalog.get(p["card"])
        problems.append(
            Problem(
                p["pos"],
                p["card"],
                c.title if c else p["card"],
                p["path"],
                p["attempt_id"],
                p["status"],
                p["passed"],
                p["total"],
                p["used_s"],
                p["quality"],
                p["a_ended"],
                p["outcome"],
                p["checks"] or 0,
                p["best_passed"] or 0,
                p["best_total"] or 0,
                p["weight"],
            )
        )
    return Session(
        m["id"],
        from_iso(m["started_at"]),
        from_iso(m["deadline_at"]),
        m["minutes"],
        m["folder"],
        m["seed"],
        m["topic"],
        m["company"],
        m["ended_at"],
        m["end_reason"],
        problems,
    )


def active(db=None) -> Session | None:
    db = db or store()
    row = _active_row(db)
    return load(db, row["id"]) if row else None


def sessions(db=None) -> list[Session]:
    db = db or store()
    return [load(db, i) for i in mockdb.session_ids(db)]


# -- the set and the start -----------------------------------------------------------------------
def _filtered(catalog: dict, topic: str | None, company: str | None) -> list:
    chosen = list(catalog.values())
    if topic:
        t = topic.lower()
        chosen = [c for c in chosen if t in (x.lower() for x in c.topics)]
        if not chosen:
            known = sorted({x for c in catalog.values() for x in c.topics})
            raise DrillError(
                f"no card has the topic {topic!r}; topics: {', '.join(known)}"
            )
    if company:
        k = company.lower()
        chosen = [c for c in chosen if k in (x.lower() for x in c.companies)]
        if not chosen:
            known = sorted({x for c in catalog.values() for x in c.companies})
            shown = ", ".join(known) if known else "none (no card lists companies)"
            within = f" with the topic {topic!r}" if topic else ""
            raise DrillError(
                f"no card{within} is asked at {company!r}; companies: {shown}"
            )
    return chosen


def _folder(now: datetime) -> Path:
    base = Path(paths.workspace_dir()) / f"mock_{now.astimezone():%Y%m%d_%H%M%S}"
    folder, n = base, 1
    while folder.exists():
        n += 1
        folder = base.with_name(f"{base.name}_{n}")
    return folder


def begin(
    now: datetime,
    minutes: int,
    count: int | None,
    topic: str | None,
    company: str | None,
    seed: int | None,
) -> Session:
    """Pick the set, render every blank into a new session folder, record it all."""
    from drills.render import render_blank

    db = store()
    running = _active_row(db)
    if running is not None:
        raise _in_progress(running, now)
    catalog = cards()
    opened = {a["card"] for a in db.open_attempts()}
    pool_cards = [c for c in _filtered(catalog, topic, company) if c.slug not in opened]
    if not pool_cards:
        raise DrillError(
            "every card that matches is in an open attempt: finish or `drill abandon` it first"
        )
    day = study_day(now, setting(db.settings(), "rollover_hour"))
    states = db.states()
    pool = [
        rules.Candidate(
            c.slug,
            c.minutes,
            tuple(c.topics),
            rules.weight(c.frequency, states.get(c.slug), day),
        )
        for c in pool_cards
    ]
    seed = seed if seed is not None else int.from_bytes(os.urandom(4), "big") >> 1
    picked = rules.pick(pool, minutes, count, random.Random(seed))
    deadline = now + timedelta(minutes=minutes)
    folder = _folder(now)
    local = now.astimezone()
    # the files are written inside it: all of it happens, or none
    with db.transaction():
        if _active_row(db) is not None:
            raise _in_progress(_active_row(db), now)
        mock_id = db.insert(
            "mocks",
            {
                "started_at": iso(now),
                "deadline_at": iso(deadline),
                "minutes": minutes,
                "folder": str(folder),
                "seed": seed,
                "topic": topic,
                "company": company,
            },
        )
        try:
            folder.mkdir(parents=True)
        except OSError as exc:
            raise DrillError(
                f"cannot create the session folder {folder}: {exc.strerror}"
            ) from None
        for pos, cand in enumerate(picked, 1):
            c = catalog[cand.slug]
            path = (folder / f"{pos}_{c.slug}.py").resolve()
            line = (
                f"Mock interview, problem {pos} of {len(picked)}.  Started {local:%Y-%m-%d %H:%M}."
                f"  One clock for the session: deadline {deadline.astimezone():%H:%M} "
                f"({minutes} min; this card's own target is {c.minutes} min)."
            )
            attempt_id = db.insert(
                "attempts",
                {
                    "card": c.slug,
                    "started_at": iso(now),
                    "deadline_at": iso(deadline),
                    "path": str(path),
                    "day": day.isoformat(),
                    "mock_id": mock_id,
                },
            )
            db.insert(
                "mock_problems",
                {
                    "mock_id": mock_id,
                    "pos": pos,
                    "card": c.slug,
                    "attempt_id": attempt_id,
                    "path": str(path),
                    "weight": round(cand.weight, 4),
                },
            )
            try:
                path.write_text(render_blank(c, local, line), encoding="utf-8")
            except OSError as exc:
                raise DrillError(
                    f"cannot write the blank file {path}: {exc.strerror}"
                ) from None
    from drills.grading import client

    client.start_in_background()  # warm while the user reads: checks are fast from the first
    return load(db, mock_id)


def _in_progress(row, now: datetime) -> DrillError:
    left = (from_iso(row["deadline_at"]) - now).total_seconds()
    when = f"{rules.mmss(left)} left" if left > 0 else "its deadline has passed"
    return DrillError(
        f"a mock interview is in progress ({when}): `drill mock --resume` continues it, "
        "`drill mock --finish` ends and grades it"
    )


def need_active(now: datetime) -> Session:
    s = active()
    if s is None:
        raise DrillError("no mock interview in progress; `drill mock` starts one")
    return s


# -- the end ---------------------------------------------------------------------------------------
def finish(mock_id: int, now: datetime, reason: str, note=None) -> Session:
    """Grade every problem not graded yet, as its file stands, then end the session. Each
    problem is one transaction, and so is the end: safe to kill, and to run twice at once."""
    from drills.attempts import _review
    from drills.grading import grade
    from engine import attempt as arules

    db = store()
    s = load(db, mock_id)
    at = min(now, s.deadline)  # time stops at the deadline, even if grading runs later
    reason = "deadline" if now >= s.deadline else reason
    catalog = cards()
    for p in s.problems:
        if p.status is not None:
            continue
        c = catalog.get(p.card)
        verdict = None
        if p.ended_at is None and c is not None:
            if Path(p.path).is_file():
                verdict = grade(c, Path(p.path), note=note or (lambda line: None))
            else:
                verdict = {
                    "card": p.card,
                    "status": "error",
                    "passed": 0,
                    "failed": 0,
                    "duration_s": 0.0,
                    "device": None,
                    "tests": [],
                    "message": f"the file {p.path} is gone",
                }
        with db.transaction():
            if mockdb.graded(db, mock_id, p.pos):
                continue  # another drill graded it meanwhile
            a = db.attempt(p.attempt_id)
            started = from_iso(a["started_at"])
            final = None
            if a["ended_at"] is None and verdict is not None:
                final = _record_final(
                    db, a, c, verdict, started, at, now, _review, arules
                )
                a = db.attempt(p.attempt_id)
            elif a["ended_at"] is None:  # its card left the bank: ended, unreviewed
                db.update_open_attempt(
                    a["id"], {"ended_at": iso(now), "outcome": "abandoned"}
                )
                a = db.attempt(p.attempt_id)
            db.update(
                "mock_problems",
                {"mock_id": mock_id, "pos": p.pos},
                _result(a, final, s),
            )
    with db.transaction():
        db.update(
            "mocks",
            {"id": mock_id},
            {"ended_at": iso(at), "end_reason": reason},
            only_if="ended_at is null",
        )
    return load(db, mock_id)


def _record_final(db, a, c, verdict, started, at, now, review, arules) -> dict:
    """The closing check of an open problem: logged, folded, and the attempt ended with its
    review (a pass at the end is in time; otherwise a give-up's quality from the best tests)."""
    db.insert(
        "checks",
        {
            "attempt_id": a["id"],
            "card": verdict["card"],
            "at": iso(now),
            "status": verdict["status"],
            "passed": verdict["passed"],
            "failed": verdict["failed"],
            "duration_s": verdict["duration_s"],
            "device": verdict["device"],
            "verdict": json.dumps(verdict),
        },
    )
    summary = arules.fold(
        arules.summary_of(a), verdict["status"], verdict["passed"], verdict["failed"]
    )
    elapsed = (at - started).total_seconds()
    target_s = (from_iso(a["deadline_at"]) - started).total_seconds()
    if verdict["status"] == "pass":
        q, outcome = (
            arules.passed_quality(summary, elapsed, target_s, a["hints"]),
            "pass",
        )
    else:
        q, outcome = arules.gave_up_quality(summary, elapsed, target_s), "time_up"
    review(db, c.slug, q, started, at, "mock")
    db.update_open_attempt(
        a["id"],
        {**summary._asdict(), "ended_at": iso(at), "outcome": outcome, "quality": q},
    )
    return verdict


def _result(a, final: dict | None, s: Session) -> dict:
    """A problem's line on the scorecard, from its ended attempt (and its closing check)."""
    ended = from_iso(a["ended_at"])
    if final is not None:
        status, passed, total = (
            final["status"],
            final["passed"],
            final["passed"] + final["failed"],
        )
    else:  # it ended during the session: a pass, a give-up, or dropped
        status = {"pass": "pass", "giveup": "gave up"}.get(a["outcome"], a["outcome"])
        passed, total = a["best_passed"], a["best_total"]
    return {
        "status": status,
        "passed": passed,
        "total": total,
        "used_s": (ended - s.started).total_seconds(),
        "quality": a["quality"],
        "graded_at": a["ended_at"],
    }


# -- the clock ---------------------------------------------------------------------------------------
class Clock:
    """The session's "now". The real clock, read afresh each tick (a laptop that slept wakes
    to the right time left); under DRILL_NOW (tests, demos), that moment plus the real time
    since, times DRILL_MOCK_SPEED (default 1), so a test's 10-minute session passes in seconds."""

    def __init__(self):
        from engine.clock import now

        self._now = now
        self.fixed = bool(os.environ.get("DRILL_NOW"))
        self.base = now()
        self.t0 = time.monotonic()
        try:
            self.speed = float(os.environ.get("DRILL_MOCK_SPEED", "1"))
        except ValueError:
            raise DrillError("DRILL_MOCK_SPEED must be a number (e.g. 60)") from None
        if self.speed <= 0:
            raise DrillError("DRILL_MOCK_SPEED must be positive")

    def __call__(self) -> datetime:
        if not self.fixed:
            return self._now()
        return self.base + timedelta(seconds=(time.monotonic() - self.t0) * self.speed)

    def tick_s(self) -> float:
        """Real seconds between two looks at the store: a simulated second, at most 1."""
        return min(1.0, max(0.02, 1.0 / self.speed))


# -- what the history says ---------------------------------------------------------------------------
def scorecard(s: Session) -> dict:
    """The scorecard: per problem its verdict, tests, time and quality, and how it compares
    with the earlier mocks (of its card, and as a session)."""
    db = store()
    earlier = [
        rules.Result(
            r["mock_id"],
            r["card"],
            r["status"],
            r["passed"] or 0,
            r["total"] or 0,
            r["used_s"] or 0.0,
            r["started_at"][:10],
        )
        for r in mockdb.earlier_results(db, s.id)
    ]
    current = [
        rules.Result(
            s.id,
            p.card,
            p.status or "",
            p.passed or 0,
            p.total or 0,
            p.used_s or 0.0,
            "",
        )
        for p in s.problems
    ]
    compared = rules.compare(current, earlier)
    states = db.states()
    problems = []
    for p in s.problems:
        st = states.get(p.card)
        problems.append(
            {
                "pos": p.pos,
                "card": p.card,
                "title": p.title,
                "path": p.path,
                "status": p.status,
                "passed": p.passed,
                "total": p.total,
                "used_s": round(p.used_s) if p.used_s is not None else None,
                "late": p.used_s is not None and p.used_s > s.minutes * 60,
                "quality": p.quality,
                "next_due": st.due if st else None,
                "interval": st.interval if st else None,
                "earlier": [
                    {
                        "day": r.day,
                        "status": r.status,
                        "passed": r.passed,
                        "total": r.total,
                        "used_s": round(r.used_s),
                    }
                    for r in compared["by_card"].get(p.card, [])
                ],
            }
        )
    return {
        "id": s.id,
        "started": s.started.isoformat(),
        "deadline": s.deadline.isoformat(),
        "minutes": s.minutes,
        "ended": s.ended_at,
        "end_reason": s.end_reason,
        "seed": s.seed,
        "topic": s.topic,
        "company": s.company,
        "folder": s.folder,
        "problems": problems,
        "solved": compared["this"]["solved"],
        "tests_passed": sum(p["passed"] or 0 for p in problems),
        "tests_total": sum(p["total"] or 0 for p in problems),
        "tests_share": round(compared["this"]["tests_share"], 3),
        "earlier_sessions": compared["earlier_sessions"],
        "earlier_mean_solved_share": _round(compared["mean_solved_share"]),
        "earlier_mean_tests_share": _round(compared["mean_tests_share"]),
        "earlier_best_tests_share": _round(compared["best_tests_share"]),
    }


def _round(x):
    return None if x is None else round(x, 3)
