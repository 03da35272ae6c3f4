"""The light commands' output, without click or rich: plain aligned tables, bold on a terminal,
and JSON. `drill today` and `drill list` print through here on both of their paths."""

from __future__ import annotations

import os
import sys


def echo(text: str = "", err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")


def bold(text: str) -> str:
    if sys.stdout.isatty() and not os.environ.get("NO_COLOR"):
        return f"\x1b[1m{text}\x1b[0m"
    return text


def echo_json(data) -> None:
    import json

    echo(json.dumps(data, indent=2, default=str))


def table(headers: list[str], rows: list[list[str]], widths=None) -> None:
    """Aligned columns (`widths`: given, to align several tables). On a terminal the last
    column is cut to its width; piped, never."""
    widths = widths or [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    try:
        width = (
            os.get_terminal_size(sys.stdout.fileno()).columns
            if sys.stdout.isatty()
            else 0
        )
    except OSError:
        width = 0
    last = max(20, width - sum(widths[:-1]) - 2 * (len(widths) - 1)) if width else None
    echo(bold("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()))
    for row in rows:
        cells = [str(c).ljust(w) for c, w in zip(row[:-1], widths)]
        tail = str(row[-1])
        if last and len(tail) > last:
            tail = tail[: last - 1] + "…"
        echo("  ".join([*cells, tail]).rstrip())


def clock(left_s: float) -> str:
    """ "12 min left" or "3 min over"."""
    minutes = round(abs(left_s) / 60)
    return f"{minutes} min left" if left_s >= 0 else f"{minutes} min over the target"


def _progress_json(p) -> dict:
    return {
        "card": p.card,
        "path": p.path,
        "started": p.started.isoformat(),
        "deadline": p.deadline.isoformat(),
        "used_s": round(p.used_s),
        "left_s": round(p.left_s),
        "checks": p.checks,
        "best_passed": p.best[0],
        "best_total": p.best[1],
        "hints": p.hints,
    }


def _progress_line(p) -> str:
    best = f", best {p.best[0]}/{p.best[1]} tests" if p.best[1] else ""
    checks = f"{p.checks} check{'s' * (p.checks != 1)}"
    return (
        f"In progress: {p.card} — {round(p.used_s / 60)} min used, {clock(p.left_s)} "
        f"(deadline {p.deadline.astimezone():%H:%M}); {checks}{best}"
    )


def _today_json(t) -> dict:
    return {
        "day": t.day.isoformat(),
        "budget_minutes": t.budget_minutes,
        "planned_minutes": t.planned_minutes,
        "spent_minutes": t.spent_minutes,
        "new_limit": t.new_limit,
        "plan_saved": t.saved is True,
        "in_progress": [_progress_json(p) for p in t.in_progress],
        "plan": [line._asdict() for line in t.lines],
        "later": [e._asdict() for e in t.later],
        "waiting": t.waiting,
        "interview": _interview_json(t),
    }


def _interview_json(t) -> dict | None:
    c = t.interview
    if c is None:
        return None
    planned = {line.card for line in t.lines if line.status != "done"}
    return {
        "date": c.date.isoformat(),
        "days_left": c.days_left,
        "phase": c.phase,  # "before" | "final week" | "today" | "past"
        "final_week_starts": c.week_starts.isoformat(),
        "high_frequency_threshold": c.threshold,
        "high_frequency_cards": c.high,
        "unpractised": c.unpractised,
        "unpractised_in_plan": [s for s in c.unpractised if s in planned],
    }


def interview_line(t) -> str | None:
    """The countdown under the day's header: days left and what is still to practise."""
    c = t.interview
    if c is None:
        return None
    if c.phase == "past":
        return (
            f"The interview date {c.date} has passed: SM-2 as usual "
            "(`drill config interview_date --clear`)."
        )
    if c.phase == "today":
        return "Interview today. Good luck!"
    head = (
        f"Interview in {c.days_left} day{'s' * (c.days_left != 1)} ({c.date:%a %d %b})"
    )
    names = ", ".join(c.unpractised[:8]) + (", ..." if len(c.unpractised) > 8 else "")
    if c.phase == "before":
        todo = (
            f"; not started yet: {len(c.unpractised)} of {c.high} ({names})"
            if c.unpractised
            else f"; all {c.high} started"
        )
        return (
            f"{head}: the final week starts {c.week_starts:%a %d %b}, and it practises "
            f"every card asked in >= {c.threshold:.0%} of interviews{todo}."
        )
    if not c.unpractised:
        return f"{head}, final week: all {c.high} high-frequency cards practised this week."
    planned = {line.card for line in t.lines if line.status != "done"}
    today = sum(1 for s in c.unpractised if s in planned)
    return (
        f"{head}, final week: {len(c.unpractised)} of {c.high} high-frequency cards "
        f"not practised this week ({names}); {today} in today's plan."
    )


def show_today(t, json_: bool) -> None:
    if json_:
        return echo_json(_today_json(t))
    done = sum(1 for line in t.lines if line.status == "done")
    echo(
        f"{t.day:%A %d %B %Y} — plan: {len(t.lines)} card{'s' * (len(t.lines) != 1)}, "
        f"{t.planned_minutes} min "
        f"(budget {t.budget_minutes}); {done} done, {t.spent_minutes} min spent today"
    )
    countdown = interview_line(t)
    if countdown:
        echo(countdown)
    for p in t.in_progress:
        echo(_progress_line(p))
    if not t.lines:
        echo(
            "Nothing to drill today. `drill list` shows every card; `drill start SLUG` starts one."
        )
    else:
        mark = {"done": "done", "in progress": "now", "": ""}
        rows = [
            [
                str(i),
                line.card,
                line.kind,
                f"{line.minutes}m",
                mark[line.status],
                line.reason,
            ]
            for i, line in enumerate(t.lines, 1)
        ]
        table(["#", "card", "kind", "time", "", "why"], rows)
        pending = [line for line in t.lines if line.status != "done"]
        if t.in_progress:
            echo("\nNext: drill check  (or drill hint, drill giveup, drill abandon)")
        elif pending:
            echo(f"\nNext: drill start ({pending[0].card})")
        else:
            echo("\nToday's plan is done.")
        echo(
            "The plan is fixed for the day; a card failed today and cards just unlocked join at the end."
            + ("" if t.saved is True else f"\nThis plan is not kept: {t.saved}")
        )
    if t.waiting:
        held = "; ".join(
            f"{c} (after {', '.join(m)})" for c, m in list(t.waiting.items())[:6]
        )
        echo(f"Waiting on prerequisites: {held}")
    if t.later:
        names = ", ".join(e.slug for e in t.later[:5])
        names += ", ..." if len(t.later) > 5 else ""
        echo(
            f"Later: {len(t.later)} more past today's budget or new-card limit ({names});"
            " `drill today --minutes N --new N` adds them to the plan"
        )


def show_status(t, json_: bool) -> None:
    if json_:
        data = _today_json(t)
        return echo_json(
            {k: data[k] for k in ("day", "in_progress", "spent_minutes", "plan")}
        )
    if not t.in_progress:
        pending = [line.card for line in t.lines if line.status != "done"]
        nxt = f"; next: drill start ({pending[0]})" if pending else ""
        echo(f"No attempt in progress{nxt}.")
    for p in t.in_progress:
        echo(f"{bold(p.title)}  [{p.card}]  {p.path}")
        echo(
            f"  started {p.started.astimezone():%H:%M}, {round(p.used_s / 60)} min used, "
            f"{clock(p.left_s)} (deadline {p.deadline.astimezone():%H:%M})"
        )
        best = f"; best {p.best[0]}/{p.best[1]} tests passed" if p.best[1] else ""
        hints = f"; {p.hints} hint{'s' * (p.hints != 1)} seen" if p.hints else ""
        echo(f"  {p.checks} check{'s' * (p.checks != 1)} so far{best}{hints}")
    done = sum(1 for line in t.lines if line.status == "done")
    echo(
        f"Today: {done} of {len(t.lines)} planned cards done, {t.spent_minutes} min spent."
    )


def show_list(rows: list[dict], json_: bool) -> None:
    """The catalog grouped by track (most-asked first within a track)."""
    if json_:
        return echo_json(rows)
    from engine.catalog import track_order, track_title

    headers = ["card", "freq", "time", "state", "due", "ease"]
    cells = {
        r["slug"]: [
            r["slug"],
            f"{r['frequency']:.2f}" + (" est." if r["frequency_estimated"] else ""),
            f"{r['minutes']}m",
            r["state"],
            r["due"] or "-",
            f"{r['ease']:.2f}" if r["ease"] else "-",
        ]
        for r in rows
    }
    # a kernel card passed on a GPU: its best speed
    if any(r.get("speed") for r in rows):
        headers.append("best speed")
        for r in rows:
            s = r.get("speed")
            cells[r["slug"]].append(
                f"{s['speedup']:.2f}x torch, {s['band']}" if s else ""
            )
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *cells.values())]
    tracks = sorted({r["track"] for r in rows}, key=track_order)
    for n, track in enumerate(tracks):
        group = sorted(
            (r for r in rows if r["track"] == track),
            key=lambda r: (-r["frequency"], r["slug"]),
        )
        echo(
            ("\n" if n else "")
            + bold(f"{track_title(track)} ({len(group)} card{'s' * (len(group) != 1)})")
        )
        table(headers, [cells[r["slug"]] for r in group], widths)
