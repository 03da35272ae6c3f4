"""Render a card's blank file: the card's `blank.py.j2` with a header (title, prompt, contract,
target time, start and deadline)."""

from __future__ import annotations

import textwrap
from datetime import datetime, timedelta

from engine.catalog import Card


def header(card: Card, started: datetime, mock: str | None = None) -> str:
    """`mock`: the line that replaces the card's own target (a mock interview's one clock)."""
    deadline = started + timedelta(minutes=card.minutes)
    prompt = card.prompt.strip().replace('"""', "'''")
    lines = [
        f"{card.title}  [drill: {card.slug}]",
        "",
        mock
        or f"Target: {card.minutes} min.  Started {started:%Y-%m-%d %H:%M}.  Deadline {deadline:%H:%M}.",
        "Check with `drill check` (this file); give up with `drill giveup`.",
        "",
        "Contract:",
        *textwrap.wrap(
            card.contract, 92, initial_indent="  ", subsequent_indent="    "
        ),
        "",
        prompt,
    ]
    if card.banned:
        banned = "Banned here (any spelling): " + ", ".join(card.banned)
        lines += ["", *textwrap.wrap(banned, 92, subsequent_indent="  ")]
    return '"""' + "\n".join(lines) + '\n"""'


def render_blank(card: Card, started: datetime, mock: str | None = None) -> str:
    import jinja2

    template = jinja2.Template(
        (card.path / "blank.py.j2").read_text(encoding="utf-8"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return template.render(header=header(card, started, mock), card=card)
