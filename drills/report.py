"""Printing for the grading commands (rich is imported here only, off the light path)."""

from __future__ import annotations

from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape

from drills.grading.verdict import failure_groups, speed_line
from drills.output import clock

console = Console(highlight=False, soft_wrap=True)
SHOWN = 12  # failing tests listed in full

_STYLE = {
    "pass": "bold green",
    "fail": "bold red",
    "error": "bold red",
    "timeout": "bold yellow",
    "banned": "bold magenta",
}


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


@contextmanager
def grading_status():
    """A spinner while the verifier runs (only on a terminal)."""
    if console.is_terminal:
        with console.status("grading…"):
            yield
    else:
        yield


def print_check(result) -> None:
    v = result.verdict
    total = v["passed"] + v["failed"]
    head = f"[{_STYLE.get(v['status'], 'bold')}]{v['status'].upper()}[/]  {v['card']}"
    if total:
        head += f"  {v['passed']}/{total} tests passed"
    head += f"  on {v['device'] or '-'} in {v['duration_s']:.1f}s"
    console.print(head)
    if v.get("message"):
        console.print(f"  {v['message']}", markup=False)
    if v.get("speed"):
        console.print(f"  {speed_line(v['speed'])}", markup=False)
    for name, cases, first in failure_groups(v["tests"])[:SHOWN]:
        which = f"{len(first['cases'])}/{cases} cases" if cases > 1 else "failed"
        example = (
            f" e.g. [{first['cases'][0]}]" if cases > 1 and first["cases"][0] else ""
        )
        console.print(f"  [red]✗ {escape(name)}[/]  {which}{escape(example)}")
        console.print(
            f"      {first['message'] or 'failed'}", markup=False, soft_wrap=True
        )
    groups = failure_groups(v["tests"])
    if len(groups) > SHOWN:
        console.print(f"  ... and {len(groups) - SHOWN} more failing tests")
    if result.review:
        r = result.review
        console.print(
            f"Attempt over in {_minutes(result.elapsed_s)}: quality {result.quality}. "
            f"Next review {r['due']} (interval {r['interval']} d, ease {r['ease_x100'] / 100:.2f})"
            + (" — and once more today." if r["again_on"] else ".")
        )
        if r["kind"] == "repeat":
            console.print("A same-day repeat: logged; the schedule is unchanged.")
        elif r["kind"] == "early":
            console.print(
                "An early review (Anki's rule): the interval grows only by the days that passed."
            )
    elif result.late:
        console.print(
            "This attempt had already ended (another check passed first): nothing more recorded."
        )
    elif result.progress and v["status"] != "pass":
        p = result.progress
        best = f"best so far {p.best[0]}/{p.best[1]} tests; " if p.best[1] else ""
        console.print(
            f"{clock(p.left_s).capitalize()} (deadline {p.deadline.astimezone():%H:%M}); "
            f"check {p.checks}, {best}fix and `drill check` again, or `drill hint` / `drill giveup`.",
            markup=False,
        )


def print_bank(line: str, ok: bool) -> None:
    mark = "[green]ok[/]" if ok else "[red]PROBLEM[/]"
    console.print(f"{mark}  ", end="")
    console.print(line, markup=False, soft_wrap=True)
