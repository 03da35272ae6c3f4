"""`drill today`, `drill list` and `drill --help` without importing click.

click alone costs more than the rest of these commands together (bench/bench.py), and they run
many times a day. This parses exactly the options the click commands declare (a test keeps the
two in step) and hands anything else, malformed input included, to click, which owns the
errors and the help of every other command.
"""

from __future__ import annotations

import os
import sys

from drills import __version__

# command -> {option: takes an integer value}
LIGHT = {
    "today": {"--json": False, "--minutes": True, "--new": True},
    "list": {"--json": False},
}
HELP = (["--help"], ["-h"])


def parse(argv: list[str]) -> tuple[str, dict] | None:
    """(command, {option: value}) for a well-formed light command, else None."""
    if not argv or argv[0] not in LIGHT:
        return None
    spec, options = LIGHT[argv[0]], {}
    rest = iter(argv[1:])
    for arg in rest:
        name, eq, value = arg.partition("=")
        if name not in spec or name in options:
            return None
        if spec[name]:
            value = value if eq else next(rest, None)
            if value is None or not value.isdigit():
                return None
            options[name] = int(value)
        elif eq:
            return None
        else:
            options[name] = True
    return argv[0], options


def _help_cache() -> tuple[str, str]:
    from drills import cli_path
    from engine.paths import data_dir

    columns = os.environ.get("COLUMNS", "")  # what click's help formatter reads first
    if not columns.isdigit():
        try:
            columns = os.get_terminal_size().columns
        except OSError:
            columns = 80
    key = f"{__version__}:{os.stat(cli_path()).st_mtime_ns}:{columns}"
    return os.path.join(data_dir(), "help-cache.txt"), key


def cached_help() -> str | None:
    path, key = _help_cache()
    try:
        with open(path, encoding="utf-8") as f:
            first, _, text = f.read().partition("\n")
    except OSError:
        return None
    return text if first == key else None


def save_help(text: str) -> None:
    path, key = _help_cache()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(f"{key}\n{text}")
        os.replace(tmp, path)
    except OSError:
        pass  # only costs speed


def run(argv: list[str]) -> bool:
    """Run a light command; False when click should handle argv instead."""
    if argv in HELP:
        text = cached_help()
        if text is None:
            return False
        sys.stdout.write(text + "\n")
        return True
    parsed = parse(argv)
    if parsed is None:
        return False
    from drills import app
    from drills.errors import expected_errors
    from drills.output import show_list, show_today
    from engine.clock import now

    command, options = parsed
    try:
        if command == "today":
            queue = app.today(now(), options.get("--minutes"), options.get("--new"))
            show_today(queue, options.get("--json", False))
        else:
            show_list(app.catalog_rows(now()), options.get("--json", False))
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
    from drills.cli import cli, root_help

    if argv in HELP:
        text = root_help()
        save_help(text)
        sys.stdout.write(text + "\n")
        return
    cli.main(args=argv, prog_name="drill")
