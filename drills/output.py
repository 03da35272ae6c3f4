"""A lean output path for the light commands: aligned plain-text tables, JSON. No rich here."""

from __future__ import annotations

import os

import click


def echo_json(data) -> None:
    import json

    click.echo(json.dumps(data, indent=2, default=str))


def table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    try:
        width = os.get_terminal_size().columns
    except OSError:
        width = 100
    last = max(20, width - sum(widths[:-1]) - 2 * (len(widths) - 1))
    click.echo(
        click.style(
            "  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip(), bold=True
        )
    )
    for row in rows:
        cells = [str(c).ljust(w) for c, w in zip(row[:-1], widths)]
        tail = str(row[-1])
        if len(tail) > last:
            tail = tail[: last - 1] + "…"
        click.echo("  ".join([*cells, tail]).rstrip())
