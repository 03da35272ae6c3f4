"""Printing for the grading commands (rich is imported here only, off the light path)."""

from __future__ import annotations

from contextlib import contextmanager

from rich.console import Console
from rich.table import Table

console = Console(highlight=False)
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
def grading_status(enabled: bool):
    """A spinner while the verifier runs (only on a terminal)."""
    if enabled and console.is_terminal:
        with console.status("grading… (torch loads in a child process)"):
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
    failing = [t for t in v["tests"] if t["status"] == "failed"]
    if failing:
        grid = Table(show_header=False, box=None, padding=(0, 1))
        grid.add_column(style="red", no_wrap=True)
        grid.add_column(overflow="fold")
        for t in failing[:SHOWN]:
            grid.add_row("✗ " + t["name"], t["message"] or "failed")
        console.print(grid)
        if len(failing) > SHOWN:
            console.print(f"  ... and {len(failing) - SHOWN} more failing tests")
    if result.review:
        r = result.review
        console.print(
            f"Attempt over in {_minutes(result.elapsed_s)}: quality {result.quality}. "
            f"Next review {r['due']} (interval {r['interval']} d, ease {r['ease_x100'] / 100:.2f})"
            + (" — and once more today." if r["again_on"] else ".")
        )
    elif result.attempt and v["status"] != "pass":
        console.print("Keep going: fix and `drill check` again, or `drill giveup`.")


def print_bank(line: str, ok: bool) -> None:
    mark = "[green]ok[/]" if ok else "[red]PROBLEM[/]"
    console.print(f"{mark}  ", end="")
    console.print(line, markup=False, soft_wrap=True)
