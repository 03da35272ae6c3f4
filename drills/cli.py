"""The `drill` command line. Bodies parse, call drills.app, and print; errors are one line."""

from __future__ import annotations

import os
import sys
from datetime import timedelta

import click

from drills import __version__, app, attempts
from drills.fast import LIGHT, dest
from drills.output import echo_json, show_list, show_status, show_today


class DrillGroup(click.Group):
    """Turns every expected failure into one clear line and exit status 1."""

    def invoke(self, ctx):
        from drills.errors import expected_errors

        try:
            return super().invoke(ctx)
        except expected_errors() as exc:
            raise click.ClickException(str(exc)) from None


def json_option(f):
    return click.option(
        "json_", "--json", is_flag=True, help="Print JSON for scripts."
    )(f)


def _now():
    from engine.clock import now

    return now()


@click.group(cls=DrillGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="drill")
def cli():
    """Spaced-repetition drills for ML-engineering interviews.

    `drill` alone shows today's plan; `drill start` opens its next card."""


def light(name: str):
    """The click options of a light command, from drills.fast.LIGHT (its one declaration)."""

    def apply(f):
        for option, (kind, text) in reversed(LIGHT[name].items()):
            if kind == "flag":
                f = click.option(dest(option), option, is_flag=True, help=text)(f)
            else:
                f = click.option(
                    dest(option), option, type=click.IntRange(*kind), help=text
                )(f)
        return cli.command(name=name)(f)

    return apply


@light("today")
def drill_today(minutes, new, json_):
    """Show today's plan, in order, and why (fixed for the day)."""
    show_today(app.today(_now(), minutes, new), json_)


@light("list")
def drill_list(json_):
    """List every card with its state, next due date and ease."""
    show_list(app.catalog_rows(_now()), json_)


@light("status")
def drill_status(json_):
    """Show the attempt in progress: time, checks, best result."""
    show_status(app.today(_now()), json_)


@cli.command(name="show")
@click.argument("slug")
@json_option
def drill_show(slug, json_):
    """Show a card's prompt and contract."""
    c = app.card(slug)
    if json_:
        return echo_json(
            {
                "slug": c.slug,
                "title": c.title,
                "contract": c.contract,
                "prompt": c.prompt,
                "minutes": c.minutes,
                "banned": c.banned,
                "devices": c.devices,
                "frequency": c.frequency,
                "frequency_source": c.frequency_source,
            }
        )
    click.echo(
        click.style(f"{c.title}", bold=True)
        + f"  [{c.slug}]  target {c.minutes} min, {c.difficulty}"
    )
    click.echo(f"Contract: {c.contract}\n")
    click.echo(c.prompt.rstrip())
    if c.banned:
        click.echo(f"\nBanned: {', '.join(c.banned)}")


@cli.command(name="start")
@click.argument("slug", required=False)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    help="Write the blank file in this (existing) folder instead of the workspace.",
)
@click.option("--edit", is_flag=True, help="Open the file in $VISUAL / $EDITOR.")
@click.option(
    "--watch", is_flag=True, help="Then re-grade on every save until a check passes."
)
@click.option(
    "--restart",
    is_flag=True,
    help="Start over with a fresh blank if an attempt at this card is open.",
)
@click.option(
    "--also", is_flag=True, help="Start it even though another attempt is open."
)
@json_option
def drill_start(slug, directory, edit, watch, restart, also, json_):
    """Start a timed attempt at a card (default: the plan's next)."""
    s = attempts.start(slug, _now(), directory, restart, also)
    if json_:
        return echo_json(
            {
                "card": s.card.slug,
                "path": str(s.path),
                "started": s.started.isoformat(),
                "deadline": s.deadline.isoformat(),
                "resumed": s.resumed,
            }
        )
    verb = "Resumed" if s.resumed else "Started"
    from drills.output import clock

    left = (s.deadline - _now()).total_seconds()
    click.echo(
        f"{verb} {s.card.title} — target {s.card.minutes} min, deadline "
        f"{s.deadline.astimezone():%H:%M} ({clock(left)})."
    )
    click.echo(str(s.path))
    click.echo(
        "Grade it with `drill check`; `drill hint` helps (and costs quality); "
        "`drill giveup` shows the reference; `drill abandon` drops it unrecorded."
    )
    if edit:
        click.edit(filename=str(s.path))
    if watch:
        from drills.watch import watch_attempt

        sys.exit(watch_attempt(str(s.path), s.card.slug))


@cli.command(name="check")
@click.argument("path", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--card", "slug", help="The card to grade against (default: the attempt's)."
)
@click.option(
    "--no-record", is_flag=True, help="Grade only: record nothing, change no schedule."
)
@click.option(
    "--quality",
    type=click.IntRange(0, 5),
    help="Override the SM-2 grade (0-5) if this check passes.",
)
@click.option(
    "--watch",
    is_flag=True,
    help="Re-grade on every save until a check passes (Ctrl-C stops).",
)
@json_option
def drill_check(path, slug, no_record, quality, watch, json_):
    """Grade the current attempt (or PATH) with the card's verifier."""
    if watch:
        from drills.watch import watch_attempt

        sys.exit(watch_attempt(path, slug, record=not no_record, quality=quality))
    check = lambda: attempts.check(
        path, slug, _now(), record=not no_record, quality=quality
    )
    if json_:
        import json

        from drills.grading.verdict import public

        result = check()
        click.echo(json.dumps(public(result.verdict)))
    else:
        from drills.report import grading_status, print_check

        with grading_status():
            result = check()
        print_check(result)
    if result.verdict["status"] != "pass":
        sys.exit(1)


@cli.command(name="giveup")
@click.argument("slug", required=False)
@click.option(
    "--quality", type=click.IntRange(0, 5), help="Override the SM-2 grade (0-5)."
)
def drill_giveup(slug, quality):
    """End the current attempt as a failure; show the reference."""
    g = attempts.give_up(slug, _now(), quality)
    click.echo(g.reference.rstrip())
    click.echo(f"\n{gave_up_line(g)}")


def gave_up_line(g) -> str:
    again = "It comes back once more today; " if g.review["again_on"] else ""
    return (
        f"Gave up on {g.card.title}: quality {g.quality}. {again}"
        f"next scheduled review {g.review['due']}."
    )


@cli.command(name="abandon")
@click.argument("slug", required=False)
def drill_abandon(slug):
    """Drop the current attempt: no review is recorded."""
    card = attempts.abandon(slug, _now())
    click.echo(
        f"Abandoned the attempt at {card}: no review recorded; it stays in today's plan."
    )


@cli.command(name="hint")
@click.argument("slug", required=False)
def drill_hint(slug):
    """Show the next hint (costs quality; the third is the reference).

    Hints come in order: the contract's key points (a pass earns at most 4), the approach
    (at most 3), then the reference, which ends the attempt as a give-up."""
    h = attempts.hint(slug, _now())
    if h.gave_up:
        click.echo(h.text.rstrip())
        click.echo(f"\nHint {h.level} is the reference: {gave_up_line(h.gave_up)}")
        return
    names = {1: "the contract's key points", 2: "the approach"}
    click.echo(
        f"Hint {h.level} of 3 ({names[h.level]}): a pass now earns at most quality {h.cap}."
    )
    click.echo(h.text)
    nxt = (
        "the approach"
        if h.level == 1
        else "the reference, which ends the attempt as a give-up"
    )
    click.echo(f"`drill hint` again shows {nxt}.")


@cli.command(name="solution")
@click.argument("slug")
def drill_solution(slug):
    """Show a card's reference solution (during an attempt: a give-up).

    It opens after a first attempt. Seeing it during an attempt at the card ends that
    attempt as a give-up, as `drill giveup` does."""
    text, gave = attempts.solution(slug, _now())
    click.echo(text.rstrip())
    if gave:
        click.echo(f"\nSeeing the reference ends the attempt. {gave_up_line(gave)}")


@cli.command(name="config")
@click.argument("key", required=False)
@click.argument("value", required=False)
@click.option("--clear", is_flag=True, help="Remove setting KEY (its default applies).")
def drill_config(key, value, clear):
    """Show settings, or set one (budget_minutes, interview_date, ...)."""
    if key:
        app.check_key(key)
    if clear:
        if not key or value is not None:
            raise click.ClickException(
                "--clear takes a setting alone: drill config KEY --clear"
            )
        click.echo(f"{key} cleared" if app.clear_config(key) else f"{key} was not set")
        return
    if key and value is not None:
        app.set_config(key, value, _now())
    settings = app.reader().settings()
    if key and key not in settings:
        click.echo(f"{key} is not set (`drill config {key} VALUE`)")
    for k, v in sorted(settings.items()):
        if not key or k == key:
            click.echo(f"{k} = {v}{app.setting_note(k, v, _now())}")


@cli.command(name="report")
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, writable=True),
    help="Also write a self-contained HTML page with charts to this file.",
)
@click.option(
    "--all", "all_", is_flag=True, help="List every topic, not the 15 weakest."
)
@json_option
def drill_report(html_path, all_, json_):
    """Show your weakest topics, weighted by how often interviews ask them."""
    from drills import weak

    if html_path:
        weak.check_html_path(html_path)
    r = weak.build(_now())
    if json_:
        echo_json(weak.as_json(r))
    else:
        click.echo("\n".join(weak.lines(r, None if all_ else weak.SHOWN)))
    if html_path:
        from drills.report_html import write

        try:
            size = write(r, html_path)
        except OSError as exc:
            raise click.ClickException(
                f"cannot write {html_path} ({exc.strerror or exc}): choose another path"
            ) from None
        click.echo(f"wrote {html_path} ({size / 1024:.0f} KiB)", err=bool(json_))


@cli.command(name="mock")
@click.option(
    "--minutes",
    type=click.IntRange(1, 600),
    help="The session's length (default 45); one clock for every problem.",
)
@click.option(
    "--cards",
    "count",
    type=click.IntRange(1, 20),
    help="Problems in the set (default: as many as fit, one per 15 min at most).",
)
@click.option("--topic", help="Only cards of this topic (card.toml's topics).")
@click.option("--company", help="Only cards this company asks (card.toml's companies).")
@click.option("--seed", type=int, help="Seed the pick (each scorecard shows its seed).")
@click.option(
    "--resume", is_flag=True, help="Continue the session in progress, same deadline."
)
@click.option(
    "--finish",
    "finish_",
    is_flag=True,
    help="End the session in progress and grade it.",
)
@click.option(
    "--no-live", is_flag=True, help="Print events as lines, not a live display."
)
@click.option("--history", is_flag=True, help="List every mock session and its score.")
@json_option
def drill_mock(
    minutes, count, topic, company, seed, resume, finish_, no_live, history, json_
):
    """Run a timed mock interview: one clock, then a scorecard."""
    from drills import mockview

    sys.exit(
        mockview.run(
            _now(),
            minutes=minutes,
            count=count,
            topic=topic,
            company=company,
            seed=seed,
            resume=resume,
            finish_=finish_,
            no_live=no_live,
            history=history,
            json_=json_,
        )
    )


@cli.command(name="export")
@click.argument("path", required=False)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["ics", "csv", "json"]),
    help="ics (calendar), csv or json (default: PATH's extension).",
)
@click.option(
    "--days",
    type=click.IntRange(1, 366),
    default=30,
    show_default=True,
    help="How many days ahead, today included.",
)
def drill_export(path, fmt, days):
    """Export upcoming reviews by date: ICS calendar, CSV or JSON."""
    from drills import export

    to_file = path not in (None, "-")
    fmt = export.format_of(fmt, path if to_file else None)
    if to_file:
        export.check_destination(path)
    u = export.upcoming(_now(), days)
    text = export.render(u, fmt)
    if not to_file:
        return click.echo(text, nl=False)
    export.write_file(text, path)
    n, last = len(u.rows), u.day + timedelta(days=days - 1)
    click.echo(
        f"Exported {n} review{'s' * (n != 1)} due {u.day} to {last} to {path} ({fmt})."
    )


@cli.command(name="backup")
@click.argument("path", type=click.Path())
def drill_backup(path):
    """Copy all your data to PATH (a file, or a folder to put one in)."""
    from drills import export

    info = export.backup(path, _now())
    size = os.path.getsize(info.path)
    click.echo(
        f"Backed up {export.summary(info)} to {info.path} ({size / 1024:.0f} KiB)."
    )


@cli.command(name="restore")
@click.argument("path", type=click.Path())
@click.option("--yes", is_flag=True, help="Overwrite the current data without asking.")
def drill_restore(path, yes):
    """Replace all your data with a backup made by `drill backup`."""
    from drills import export
    from engine.backup import has_data

    incoming, current, problem = export.restore_preview(path)
    if (problem or has_data(current)) and not yes:
        now = (
            f"cannot be read ({problem})"
            if problem
            else f"holds {export.summary(current)}"
        )
        click.echo(f"Your current data {now}.")
        click.echo(f"The backup holds {export.summary(incoming)}.")
        try:
            sure = click.confirm("Replace the current data with the backup?", err=True)
        except click.Abort:  # no answer (no terminal): a script says --yes
            sure = False
        if not sure:
            raise click.ClickException(
                "nothing restored: your data is as it was (--yes restores without asking)"
            )
    info, kept = export.restore(path, _now())
    click.echo(f"Restored {export.summary(info)} from {path}.")
    if kept:
        click.echo(f"The data it replaced is kept in {kept}.")


@cli.group(name="cards")
def cards_group():
    """Work on the card bank."""


@cards_group.command(name="check")
@click.argument("slugs", nargs=-1)
@click.option(
    "-j", "--jobs", type=int, default=0, help="Gradings at once (default: CPU count)."
)
@click.option(
    "--cold",
    is_flag=True,
    help="A new Python per verdict instead of forks of a warm grader (slow; for comparison).",
)
@click.option(
    "--references-only",
    is_flag=True,
    help="Grade each card's reference only (does the bank work on this machine?).",
)
def cards_check(slugs, jobs, cold, references_only):
    """Self-test the bank: references pass, blanks and mutants fail, metadata is valid."""
    from drills.bank import check_bank
    from drills.report import print_bank

    problems = check_bank(
        list(slugs) or None,
        jobs=jobs or None,
        progress=print_bank,
        warm=False if cold else None,
        references_only=references_only,
    )
    if problems:
        raise click.ClickException(
            f"{len(problems)} problem(s) in the card bank (listed above)"
        )
    click.echo("card bank OK")


@cards_group.command(name="new")
@click.argument("slug")
@click.option(
    "--track",
    required=True,
    help="The track's folder: llm, ml (PyTorch and classic ML), gpu.",
)
@click.option("--title", help="The card's title (default: from the slug).")
def cards_new(slug, track, title):
    """Scaffold a card folder that `drill cards check` runs (see docs/cards.md)."""
    from drills.scaffold import new_card

    folder = new_card(slug, track, title)
    click.echo(f"created {folder}")
    click.echo(
        f"next: write its prompt, reference, verifier, mutants and alternatives; "
        f"`drill cards check {slug}` lists what is left (docs/cards.md)"
    )


@cli.group(name="grader")
def grader_group():
    """The warm grader that makes checks fast."""


@grader_group.command(name="status")
@json_option
def grader_status(json_):
    """Show whether a warm grader is running, and what it has loaded."""
    from drills.grading import client

    info = client.status()
    if json_:
        return echo_json(info or {"running": False})
    if info is None:
        state = "off (DRILL_WARM=0)" if not client.enabled() else "not running"
        click.echo(f"warm grader: {state}; the next `drill check` starts one")
        return
    click.echo(
        f"warm grader: running (pid {info['pid']}, up {info['uptime_s']:.0f} s, "
        f"{info['served']} verdicts, {info['in_flight']} in flight)"
    )
    click.echo(
        f"exits after {info['idle_exit_s']:.0f} s idle (idle now {info['idle_s']:.0f} s)"
    )
    click.echo(f"loaded: {', '.join(info['preloaded'])}")


@grader_group.command(name="start")
def grader_start():
    """Start a warm grader now, so the first check is fast too."""
    from drills.grading import client

    try:
        started = client.ensure(client.protocol.socket_path()) is not None
    except client.WarmUnavailable as exc:
        raise click.ClickException(f"the warm grader did not start: {exc}") from None
    click.echo("warm grader started" if started else "warm grader already running")


@grader_group.command(name="stop")
def grader_stop():
    """Stop the warm grader (checks in flight finish first)."""
    from drills.grading import client

    stopped = client.stop()
    click.echo("warm grader stopped" if stopped else "no warm grader was running")


def root_help() -> str:
    """`drill --help` as click formats it at 80 columns: drills/root_help.txt holds it for the
    light path (tests/test_fast.py checks that it is current; `python -m drills.cli` rewrites it)."""
    with click.Context(
        cli, info_name="drill", terminal_width=80, **cli.context_settings
    ) as ctx:
        return cli.get_help(ctx) + "\n"


def write_root_help() -> None:
    from drills.fast import HELP_FILE

    with open(HELP_FILE, "w", encoding="utf-8") as f:
        f.write(root_help())


def main():
    from drills.fast import main as fast_main

    fast_main()


if __name__ == "__main__":
    write_root_help()
