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


def table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    try:
        width = os.get_terminal_size().columns
    except OSError:
        width = 100
    last = max(20, width - sum(widths[:-1]) - 2 * (len(widths) - 1))
    echo(bold("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()))
    for row in rows:
        cells = [str(c).ljust(w) for c, w in zip(row[:-1], widths)]
        tail = str(row[-1])
        if len(tail) > last:
            tail = tail[: last - 1] + "…"
        echo("  ".join([*cells, tail]).rstrip())


def _finite(x: float):
    return None if x == float("inf") else round(x, 4)


def show_today(queue, json_: bool) -> None:
    if json_:
        entries = lambda es: [
            e._asdict() | {"priority": _finite(e.priority)} for e in es
        ]
        return echo_json(
            {
                "day": queue.day.isoformat(),
                "budget_minutes": queue.budget_minutes,
                "spent_minutes": queue.spent_minutes,
                "new_limit": queue.new_limit,
                "queue": entries(queue.entries),
                "later": entries(queue.later),
            }
        )
    planned = sum(e.minutes for e in queue.entries)
    echo(
        f"{queue.day:%A %d %B %Y} — {planned} min planned, budget {queue.budget_minutes} min"
        f" ({queue.spent_minutes} done today)"
    )
    if not queue.entries:
        echo(
            "Nothing to drill today. `drill list` shows every card; `drill start SLUG` starts one."
        )
    else:
        rows = [
            [str(i), e.slug, e.kind, f"{e.minutes}m", e.reason]
            for i, e in enumerate(queue.entries, 1)
        ]
        table(["#", "card", "kind", "time", "why"], rows)
        echo(f"\nNext: drill start {queue.entries[0].slug}")
    if queue.later:
        names = ", ".join(e.slug for e in queue.later[:5])
        names += ", ..." if len(queue.later) > 5 else ""
        echo(
            f"Later: {len(queue.later)} more past today's budget or new-card limit ({names});"
            " `drill today --minutes N --new N` for more"
        )


def show_list(rows: list[dict], json_: bool) -> None:
    if json_:
        return echo_json(rows)
    table(
        ["card", "track", "freq", "time", "state", "due", "ease"],
        [
            [
                r["slug"],
                r["track"],
                f"{r['frequency']:.2f}",
                f"{r['minutes']}m",
                r["state"],
                r["due"] or "-",
                f"{r['ease']:.2f}" if r["ease"] else "-",
            ]
            for r in rows
        ],
    )
