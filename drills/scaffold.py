"""`drill cards new SLUG --track T`: a card folder that `drill cards check` already runs.

Its blank fails, as every blank must. Its reference is a placeholder that fails too, and it has
no mutants yet, so the self-test lists what is left to write until the card is real. The
verifier starts from the card kit (`cards.checks`); docs/cards.md is the guide."""

from __future__ import annotations

import re
from pathlib import Path

from engine.catalog import TRACKS, CardError, cards_root

SLUG = re.compile(r"[a-z][a-z0-9_]*\Z")

CARD_TOML = '''title = "{title}"
track = "{track}"
topics = []
frequency = 0.10
frequency_source = "estimate: replace with the share of interviews that ask it, and why"
difficulty = "medium"
minutes = 15
contract = "{slug}(x) -> tensor of x's shape and dtype: replace with the contract in one line"
prerequisites = []
devices = {devices}
{interpret}banned = []
companies = []
timeout_s = 60
hints = [
    """Replace with the contract's key points (shapes, dtypes, edge cases the tests use).""",
    """Replace with the approach, in two or three sentences.""",
]
'''

PROMPT = """Implement **{title}**.

Replace this with the prompt: what to write, the exact contract (names, signatures, shapes,
dtypes), the rules the verifier checks, and what is banned.
"""

BLANK = """{{{{ header }}}}
import torch


def {slug}(x: torch.Tensor) -> torch.Tensor:
    # TODO: replace with the card's contract
    raise NotImplementedError
"""

REFERENCE = """import torch


def {slug}(x: torch.Tensor) -> torch.Tensor:
    raise NotImplementedError("placeholder reference: replace it with the real solution")
"""

VERIFY = '''"""Verifier for {title}. Replace the placeholder test with the card's checks: see
docs/cards.md (references, named bugs, mutants, alternatives)."""

import torch

from cards.checks import assert_close, call, randn


def test_matches_the_formula(impl, device):
    x = randn((4, 8), seed=0, device=device)
    expected = x.double().tanh().to(x.dtype)  # placeholder: the card's formula, in float64
    assert_close(call(impl.{slug}, x), expected, context="x of shape (4, 8)")
'''


def new_card(slug: str, track: str, title: str | None = None) -> Path:
    """Write the scaffold of card `slug` in the bank's `track` folder; returns the folder."""
    if not SLUG.match(slug):
        raise CardError(
            f"card slug {slug!r}: use lower case letters, digits and _, starting with a letter"
        )
    if track not in TRACKS:
        raise CardError(f"unknown track {track!r}; tracks: {', '.join(TRACKS)}")
    from engine.catalog import load_catalog

    existing = load_catalog(errors=[])
    if slug in existing:
        raise CardError(f"card `{slug}` exists already: {existing[slug].folder}")
    folder = Path(cards_root()) / track / slug
    if folder.exists():
        raise CardError(f"{folder} exists already")
    title = title or slug.replace("_", " ").capitalize()
    gpu = track == "gpu"
    fields = {
        "slug": slug,
        "track": track,
        "title": title.replace('"', "'"),
        "devices": '["cuda"]' if gpu else '["cpu", "cuda"]',
        "interpret": "interpret = true  # graded under Triton's interpreter without a GPU\n"
        if gpu
        else "",
    }
    folder.mkdir(parents=True)
    for sub in ("mutants", "alternatives"):
        (folder / sub).mkdir()
    files = {
        "card.toml": CARD_TOML,
        "prompt.md": PROMPT,
        "blank.py.j2": BLANK,
        "reference.py": REFERENCE,
        "verify.py": VERIFY,
    }
    for name, template in files.items():
        (folder / name).write_text(template.format(**fields), encoding="utf-8")
    return folder
