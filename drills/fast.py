"""`drill`, `drill today`, `drill list`, `drill status` and `drill --help` without click.

click alone costs more than the rest of these commands together (bench/bench.py), and they run
many times a day. LIGHT declares their options once: this parser reads it, and drills.cli
builds the click commands from it, so the two cannot drift. Anything else, malformed input
included, goes to click, which owns the errors and the help of every command.
"""

from __future__ import annotations

import os
import sys

JSON = ("flag", "Print JSON for scripts.")
# command -> {option: ("flag", help) | ((lowest, highest), help) for a whole number}
LIGHT = {
    "today": {
        "--minutes": (
            (1, 1440),
            "Today's budget in minutes (default: setting budget_minutes).",
        ),
        "--new": ((0, 50), "New cards allowed today (default: setting new_per_day)."),
        "--json": JSON,
    },
    "list": {"--json": JSON},
    "status": {"--json": JSON},
}
HELP = (["--help"], ["-h"])
# made by drills.cli
HELP_FILE = os.path.join(os.path.dirname(__file__), "root_help.txt")


def dest(option: str) -> str:
    """The keyword a click command receives for an option (`--json` -> `json_`)."""
    name = option.lstrip("-").replace("-", "_")
    return name + "_" if name == "json" else name


def parse(argv: list[str]) -> tuple[str, dict] | None:
    """(command, {keyword: value}) for a well-formed light command, else None."""
    if not argv or argv[0] not in LIGHT:
        return None
    spec, options = LIGHT[argv[0]], {}
    rest = iter(argv[1:])
    for arg in rest:
        name, eq, value = arg.partition("=")
        if name not in spec or dest(name) in options:
            return None
        kind = spec[name][0]
        if kind == "flag":
            if eq:
                return None
            options[dest(name)] = True
            continue
        value = value if eq else next(rest, None)
        if value is None or not value.isdigit() or not kind[0] <= int(value) <= kind[1]:
            return None
        options[dest(name)] = int(value)
    return argv[0], options


def run(argv: list[str]) -> bool:
    """Run a light command; False when click should handle argv instead."""
    if argv in HELP:
        try:
            with open(HELP_FILE, encoding="utf-8") as f:
                sys.stdout.write(f.read())
            return True
        except OSError:
            return False
    parsed = parse(argv or ["today"])
    if parsed is None:
        return False
    from drills import app
    from drills.errors import expected_errors
    from drills.output import show_list, show_status, show_today
    from engine.clock import now

    command, options = parsed
    json_ = options.get("json_", False)
    try:
        if command == "today":
            show_today(
                app.today(now(), options.get("minutes"), options.get("new")), json_
            )
            if not argv and not json_:
                sys.stdout.write("(`drill -h` lists every command)\n")
        elif command == "list":
            show_list(app.catalog_rows(now()), json_)
        else:
            show_status(app.today(now()), json_)
    except expected_errors() as exc:
        sys.stderr.write(f"Error: {exc}\n")  # as click.ClickException prints it
        sys.exit(1)
    return True


def main(argv: list[str] | None = None) -> None:
    """The `drill` console script."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        if run(argv):
            return
    except BrokenPipeError:  # `drill list | head`: stop quietly, as click does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    from drills.cli import cli

    cli.main(args=argv, prog_name="drill")
