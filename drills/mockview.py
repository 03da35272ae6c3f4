"""`drill mock` on the screen: the session's live display and its scorecard.

On a terminal the display is a rich.live table redrawn from the store every tick (time left,
the problems, which pass), so a check from another terminal shows up by itself. Piped, or with
`--no-live`, the same events are lines: the warnings, each problem's change, then the
scorecard. Tests drive that mode with DRILL_NOW and DRILL_MOCK_SPEED (drills.mock.Clock)."""

from __future__ import annotations

import sys
import time

from drills import mock
from drills.errors import DrillError
from drills.output import echo, echo_json, table
from engine.mock import crossed, mmss

STATUS = {"pass": "PASS", "fail": "FAIL", "error": "ERROR", "timeout": "TIMEOUT"}


def _state(p: mock.Problem) -> str:
    """A problem's state during the session, in a few words."""
    if p.status is not None:
        return STATUS.get(p.status, p.status)
    if p.ended_at is not None:
        return {"pass": "PASS", "giveup": "gave up"}.get(
            p.outcome, p.outcome or "ended"
        )
    if p.checks == 0:
        return "not checked yet"
    best = f", best {p.best_passed}/{p.best_total} tests" if p.best_total else ""
    return f"{p.checks} check{'s' * (p.checks != 1)}{best}"


class Lines:
    """The plain display: one line per event."""

    def __init__(self, stream):
        self.stream = stream
        self.seen: dict[int, str] = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def say(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def show(self, s: mock.Session, now) -> None:
        at = mmss((now - s.started).total_seconds())
        for p in s.problems:
            state = _state(p)
            if self.seen.get(p.pos, "not checked yet") != state:
                self.say(f"[{at}] {p.pos} {p.card}: {state}")
            self.seen[p.pos] = state


class Live:
    """The terminal display: a table redrawn in place."""

    def __init__(self):
        from rich.console import Console
        from rich.live import Live as RichLive

        self.console = Console(highlight=False)
        self.live = RichLive(console=self.console, auto_refresh=False, transient=False)

    def __enter__(self):
        self.live.__enter__()
        return self

    def __exit__(self, *exc):
        return self.live.__exit__(*exc)

    def say(self, text: str) -> None:
        if text.startswith("Warning"):
            self.console.bell()
            self.console.print(text, style="bold yellow", markup=False)
        else:
            self.console.print(text, markup=False)

    def show(self, s: mock.Session, now) -> None:
        from rich.table import Table

        left = (s.deadline - now).total_seconds()
        colour = "red" if left <= 60 else "yellow" if left <= 300 else "green"
        t = Table(
            title=f"Mock interview: [bold {colour}]{mmss(left)} left[/] "
            f"(deadline {s.deadline.astimezone():%H:%M})",
            caption=f"{s.folder}  ·  `drill check FILE` grades one; "
            "`drill mock --finish` ends now; Ctrl-C leaves it running",
            title_justify="left",
            caption_justify="left",
        )
        for name in ("#", "problem", "file", "state"):
            t.add_column(name)
        for p in s.problems:
            state = _state(p)
            style = "green" if state == "PASS" else ""
            t.add_row(
                str(p.pos), p.title, p.path.rsplit("/", 1)[-1], state, style=style
            )
        self.live.update(t, refresh=True)


def follow(s: mock.Session, live: bool, stream=None) -> mock.Session | None:
    """Show the session until it ends (graded at the deadline here, or ended elsewhere);
    None when the user pressed Ctrl-C (the session goes on)."""
    clock = mock.Clock()
    view = Live() if live else Lines(stream or sys.stdout)
    before = None
    db = mock.store()
    try:
        with view:
            while True:
                now = clock()
                s = mock.load(db, s.id)
                left = (s.deadline - now).total_seconds()
                for w in crossed(before, left):
                    said = mmss(left) if before is None else f"{w // 60} min"
                    view.say(
                        f"Warning: {said} left (deadline {s.deadline.astimezone():%H:%M})"
                    )
                before = left
                view.show(s, now)
                if s.ended_at is not None:
                    view.say("The session was ended (`drill mock --finish`).")
                    return s
                if left <= 0 or all(p.ended_at for p in s.problems):
                    why = "Time is up" if left <= 0 else "Every problem is done"
                    view.say(f"{why}: grading every open problem as its file stands...")
                    done = mock.finish(
                        s.id, now, "deadline" if left <= 0 else "done", view.say
                    )
                    view.show(done, now)
                    return done
                time.sleep(clock.tick_s())
    except KeyboardInterrupt:
        return None


def show_started(s: mock.Session, stream) -> None:
    say = lambda text: stream.write(text + "\n")
    say(
        f"Mock interview: {len(s.problems)} problem{'s' * (len(s.problems) != 1)}, "
        f"{s.minutes} min, deadline {s.deadline.astimezone():%H:%M} (seed {s.seed})."
    )
    for p in s.problems:
        say(f"  {p.pos}. {p.title}  [{p.card}]")
        say(f"     {p.path}")
    say(
        "Grade a problem any time with `drill check FILE` (a pass ends it). At the deadline "
        "every file is graded as it stands; `drill mock --finish` ends sooner."
    )
    stream.flush()


def left_running(s: mock.Session) -> str:
    return (
        f"The session goes on (deadline {s.deadline.astimezone():%H:%M}): "
        "`drill mock --resume` shows it again, `drill mock --finish` ends it now."
    )


def show_scorecard(card: dict) -> None:
    reason = {
        "deadline": "at the deadline",
        "finish": "early (--finish)",
        "done": "every problem done",
    }
    echo(
        f"Mock interview #{card['id']}, {card['started'][:16].replace('T', ' ')}, "
        f"{card['minutes']} min, ended {reason.get(card['end_reason'], card['end_reason'])} "
        f"(seed {card['seed']})"
    )
    rows = []
    for p in card["problems"]:
        late = " (late)" if p["late"] else ""
        rows.append(
            [
                str(p["pos"]),
                p["card"],
                (STATUS.get(p["status"], p["status"]) or "-") + late,
                f"{p['passed']}/{p['total']}" if p["total"] else "-",
                mmss(p["used_s"]) if p["used_s"] is not None else "-",
                "-" if p["quality"] is None else str(p["quality"]),
                _earlier(p["earlier"]),
            ]
        )
    table(
        ["#", "card", "verdict", "tests", "time used", "quality", "earlier mocks"], rows
    )
    n = len(card["problems"])
    line = (
        f"Solved {card['solved']} of {n}; {card['tests_passed']} of {card['tests_total']} "
        f"tests passing ({card['tests_share']:.0%})."
    )
    if card["earlier_sessions"]:
        line += (
            f" Earlier mocks ({card['earlier_sessions']}): solved "
            f"{card['earlier_mean_solved_share']:.0%} of problems and "
            f"{card['earlier_mean_tests_share']:.0%} of tests on average; "
            f"best {card['earlier_best_tests_share']:.0%}."
        )
    else:
        line += " Your first mock: the next ones are compared with it."
    echo(line)
    steps = [
        f"{p['card']} quality {p['quality']}, next review {p['next_due']}"
        for p in card["problems"]
        if p["quality"] is not None
    ]
    if steps:
        echo("Schedule (SM-2, as any attempt): " + "; ".join(steps) + ".")


def _earlier(results: list[dict]) -> str:
    if not results:
        return "first time"
    shown = [
        f"{STATUS.get(r['status'], r['status'])} {r['passed']}/{r['total']} {r['day'][5:]}"
        + (f" in {mmss(r['used_s'])}" if r["status"] == "pass" else "")
        for r in results[-3:]
    ]
    return "; ".join(shown)


def show_history(sessions: list[mock.Session]) -> None:
    if not sessions:
        echo("No mock interviews yet; `drill mock` starts one.")
        return
    rows = []
    for s in sessions:
        solved = sum(p.status == "pass" for p in s.problems)
        total = sum(p.total or 0 for p in s.problems)
        share = (
            f"{sum(p.passed or 0 for p in s.problems) / total:.0%}" if total else "-"
        )
        state = s.end_reason or "in progress"
        rows.append(
            [
                str(s.id),
                f"{s.started.astimezone():%Y-%m-%d %H:%M}",
                str(s.minutes),
                f"{solved}/{len(s.problems)}",
                share,
                state,
                ", ".join(p.card for p in s.problems),
            ]
        )
    table(["#", "started", "min", "solved", "tests", "ended", "problems"], rows)


def run(
    now,
    *,
    minutes,
    count,
    topic,
    company,
    seed,
    resume,
    finish_,
    no_live,
    history,
    json_,
) -> int:
    """The `drill mock` command; returns its exit status."""
    chosen = [
        name
        for name, on in (
            ("--resume", resume),
            ("--finish", finish_),
            ("--history", history),
        )
        if on
    ]
    if len(chosen) > 1:
        raise DrillError(f"{' and '.join(chosen)} go separately: give one")
    if chosen and any(x is not None for x in (minutes, count, topic, company, seed)):
        raise DrillError(
            f"{chosen[0]} takes no --minutes, --cards, --topic, --company or --seed"
        )
    if history:
        sessions = mock.sessions()
        if json_:
            echo_json([mock.scorecard(s) for s in sessions])
        else:
            show_history(sessions)
        return 0
    progress = sys.stderr if json_ else sys.stdout
    if finish_:
        s = mock.need_active(now)
        ended = mock.finish(
            s.id, now, "finish", lambda line: progress.write(line + "\n")
        )
    else:
        if resume:
            s = mock.need_active(now)
            if now >= s.deadline:
                progress.write(
                    f"The deadline ({s.deadline.astimezone():%H:%M}) passed while no "
                    "`drill mock` was running: the files are graded as they stand now.\n"
                )
            else:
                progress.write(
                    f"Resumed mock interview #{s.id}: {mmss((s.deadline - now).total_seconds())}"
                    f" left (deadline {s.deadline.astimezone():%H:%M}).\n"
                )
        else:
            s = mock.begin(now, minutes or 45, count, topic, company, seed)
            show_started(s, progress)
        live = not (no_live or json_) and sys.stdout.isatty()
        ended = follow(s, live, progress)
        if ended is None:
            progress.write(left_running(s) + "\n")
            return 130
    card = mock.scorecard(ended)
    if json_:
        echo_json(card)
    else:
        show_scorecard(card)
    return 0
