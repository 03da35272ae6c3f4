"""The card bank's self-test (rustlings' `dev check`): every reference and alternative passes,
every blank and mutant fails, metadata is valid, blank and reference share a public surface."""

from __future__ import annotations

import ast
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from drills.grading import client, grade
from drills.grading.verdict import shown_text
from drills.render import render_blank
from engine.catalog import HINT_LEVELS, Card, CardError, load_catalog


def _signature(node: ast.FunctionDef) -> str:
    return ast.unparse(node.args)


def surface(source: str) -> dict[str, str]:
    """Public top-level functions and classes, with signatures (classes: their public methods)."""
    found = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            found[node.name] = _signature(node)
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            methods = [
                f"{m.name}({_signature(m)})"
                for m in node.body
                if isinstance(m, ast.FunctionDef)
                and (m.name == "__init__" or not m.name.startswith("_"))
            ]
            found[node.name] = "; ".join(methods)
    return found


def _tagged(path: Path, tag: str) -> str | None:
    """The text after `# <tag>:` on the first line that has it."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if f"# {tag}:" in line:
            return line.split(f"# {tag}:", 1)[1].strip()
    return None


def _bug(path: Path) -> str:
    return _tagged(path, "bug") or path.stem.replace("_", " ")


def expected_hint(path: Path) -> str | None:
    """A mutant's `# expect: PHRASE`: the words its failing verdict must show the user."""
    return _tagged(path, "expect")


def _jobs(card: Card, blank: Path) -> list[tuple[str, Path, bool]]:
    """(label, file, should_pass) for every file the card's verifier must judge."""
    jobs = [("reference", card.path / "reference.py", True), ("blank", blank, False)]
    jobs += [
        (f"mutant `{p.name}`", p, False)
        for p in sorted((card.path / "mutants").glob("*.py"))
    ]
    jobs += [
        (f"alternative `{p.name}`", p, True)
        for p in sorted((card.path / "alternatives").glob("*.py"))
    ]
    return jobs


def static_problems(card: Card, blank_source: str) -> list[str]:
    problems = []
    mutants = list((card.path / "mutants").glob("*.py"))
    if len(mutants) < 3:
        problems.append(
            f"`{card.slug}` has {len(mutants)} mutants: add realistic bugs to mutants/ (at least 3)"
        )
    alternatives = list((card.path / "alternatives").glob("*.py"))
    if len(alternatives) < 2:
        problems.append(
            f"`{card.slug}` has {len(alternatives)} alternatives: add correct solutions in "
            "other styles to alternatives/ (at least 2)"
        )
    if len(card.hints) != HINT_LEVELS - 1 or not all(h.strip() for h in card.hints):
        problems.append(
            f"`{card.slug}` has {len(card.hints)} hints: card.toml needs `hints` = [the "
            "contract's key points, the approach] (the last hint is the reference)"
        )
    try:
        blank, reference = (
            surface(blank_source),
            surface((card.path / "reference.py").read_text()),
        )
    except SyntaxError as exc:
        return problems + [f"`{card.slug}`: blank or reference does not parse: {exc}"]
    if blank.keys() != reference.keys():
        problems.append(
            f"`{card.slug}`: blank defines {sorted(blank)} but reference defines {sorted(reference)}"
        )
    for name in blank.keys() & reference.keys():
        if blank[name] != reference[name]:
            problems.append(
                f"`{card.slug}`: `{name}` differs: blank ({blank[name]}) vs reference ({reference[name]})"
            )
    return problems


def _judge(
    card: Card,
    label: str,
    path: Path,
    should_pass: bool,
    socket: str | None = None,
    threads: int = 0,
) -> tuple[str, str | None]:
    """(the verdict's status, a problem for the card author or None)."""
    verdict = grade(card, path, warm=socket is not None, socket=socket, threads=threads)
    status = verdict["status"]
    return status, _problem(card, label, path, should_pass, verdict)


def _problem(
    card: Card, label: str, path: Path, should_pass: bool, verdict: dict
) -> str | None:
    status = verdict["status"]
    if should_pass and status != "pass":
        failing = [
            f"{t['name']}: {t['message']}"
            for t in verdict["tests"]
            if t["status"] == "failed"
        ]
        detail = verdict.get("message") or (failing[0] if failing else "")
        return f"{label} of `{card.slug}` did not pass ({status}): {detail}"
    if not should_pass and status == "pass":
        if label == "blank":
            return f"the blank of `{card.slug}` passes its verifier: the verifier checks nothing"
        return (
            f"{label} of `{card.slug}` passed: the verifier does not catch this bug "
            f"({_bug(path)}); add a test that does"
        )
    if label.startswith("mutant"):
        return _unnamed_bug(card, label, path, verdict)
    return None


def _unnamed_bug(card: Card, label: str, path: Path, verdict: dict) -> str | None:
    """A rejected mutant's verdict must name its bug in the user's terms: the mutant's
    `# expect:` phrase appears in what `drill check` prints."""
    phrase = expected_hint(path)
    if not phrase:
        return (
            f"{label} of `{card.slug}` has no `# expect: PHRASE` line: say what its "
            "failing verdict must tell the user"
        )
    shown = shown_text(verdict)
    if phrase.lower() not in shown.lower():
        first = next((line for line in shown.splitlines() if line), "(no message)")
        return (
            f"{label} of `{card.slug}` is rejected, but no message names its bug: expected "
            f"{phrase!r} in what the user sees, got: {first[:300]}"
        )
    return None


def check_bank(
    slugs: list[str] | None = None,
    jobs: int | None = None,
    progress=None,
    warm: bool | None = None,
    references_only: bool = False,
) -> list[str]:
    """Every problem found, as messages for a card author; calls progress(line, ok) as it goes.
    `references_only`: grade each card's reference and nothing else (does the bank work on
    this machine, e.g. on a GPU?).

    Warm (the default unless DRILL_WARM=0): one private warm grader, started for this run and
    stopped after it, forks a child per verdict, `jobs` at a time."""
    problems: list[str] = []
    report = progress or (lambda line, ok: None)
    try:
        catalog = load_catalog()
    except CardError as exc:
        report(str(exc), False)
        return [str(exc)]
    if slugs:
        unknown = [s for s in slugs if s not in catalog]
        if unknown:
            message = f"no card named {', '.join(unknown)}"
            report(message, False)
            return [message]
        catalog = {s: catalog[s] for s in slugs}
    work = []
    with tempfile.TemporaryDirectory(prefix="drill-bank-") as tmp:
        when = datetime(2026, 1, 1, tzinfo=UTC)
        for card in catalog.values():
            blank_source = render_blank(card, when)
            blank = Path(tmp) / f"blank_{card.slug}.py"
            blank.write_text(blank_source, encoding="utf-8")
            for problem in static_problems(card, blank_source):
                report(problem, False)
                problems.append(problem)
            work += [
                (card, label, path, should)
                for label, path, should in _jobs(card, blank)
                if label == "reference" or not references_only
            ]
        warm = client.enabled() if warm is None else warm
        grader = _private_grader(tmp, report) if warm else None
        socket = os.path.join(tmp, "grader.sock") if grader else None
        jobs = jobs or os.cpu_count() or 2
        # small tensors: one torch thread per child beats `jobs` children fighting over cores
        threads = max(1, (os.cpu_count() or 1) // jobs)
        try:
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                for (card, label, path, should), (status, problem) in zip(
                    work, pool.map(lambda w: _judge(*w, socket, threads), work)
                ):
                    good = "passes" if should else f"is rejected ({status})"
                    report(problem or f"{card.slug}: {label} {good}", problem is None)
                    if problem:
                        problems.append(problem)
        finally:
            if grader:
                client.stop(socket)
                grader.wait()  # reaped here, so its CPU time counts as this process's
    return problems


def _private_grader(folder: str, report):
    """Start a warm grader for this run alone: its process, or None (grade cold)."""
    try:
        return client.ensure(os.path.join(folder, "grader.sock"), idle=60)
    except client.WarmUnavailable as exc:
        report(f"warm grader unavailable ({exc}): grading in cold children", True)
        return None
