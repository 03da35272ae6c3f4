"""The card bank's self-test, on the real bank (what CI relies on) and on a broken toy bank."""

import shutil
from pathlib import Path

import pytest
from conftest import TOY_CARDS

from drills.bank import check_bank, static_problems
from drills.grading import grade
from engine.catalog import load_catalog

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_real_bank_is_sound():
    lines = []
    problems = check_bank(progress=lambda line, ok: lines.append(line))
    assert problems == [], "\n".join(problems)
    assert len(load_catalog()) >= 9
    assert any("reference passes" in line for line in lines)
    assert any("is rejected (banned)" in line for line in lines)


def test_toy_bank_passes(toy_cards):
    assert check_bank(["add_scaled"]) == []


def test_a_mutant_that_passes_is_reported(tmp_path, monkeypatch):
    shutil.copytree(TOY_CARDS, tmp_path / "bank")
    card = tmp_path / "bank" / "toy" / "add_scaled"
    (card / "mutants" / "uses_subtraction_twice.py").write_text(
        "def add_scaled(x, y, alpha=1.0):\n    return x - (-alpha) * y  # bug: none really\n"
    )
    (card / "blank.py.j2").write_text(
        "{{ header }}\ndef add_scaled(x, y, alpha=2.0):\n    raise NotImplementedError\n"
    )
    monkeypatch.setenv("DRILL_CARDS", str(tmp_path / "bank"))
    problems = check_bank(["add_scaled"])
    assert any(
        "mutant `uses_subtraction_twice.py` of `add_scaled` passed" in p
        and "none really" in p
        for p in problems
    ), problems
    assert any("`add_scaled` differs: blank" in p for p in problems), problems


def test_static_problems_name_missing_mutants(tmp_path, monkeypatch):
    shutil.copytree(TOY_CARDS, tmp_path / "bank")
    card_dir = tmp_path / "bank" / "toy" / "add_scaled"
    source = (card_dir / "reference.py").read_text()
    monkeypatch.setenv("DRILL_CARDS", str(tmp_path / "bank"))
    assert static_problems(load_catalog()["add_scaled"], source) == []
    (card_dir / "mutants" / "subtracts.py").unlink()
    problems = static_problems(load_catalog()["add_scaled"], source)
    assert problems == [
        "`add_scaled` has 2 mutants: add realistic bugs to mutants/ (at least 3)"
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    "variant",
    sorted((ROOT / "bench" / "flash_variants").glob("*.py"), key=lambda p: p.name),
    ids=lambda p: p.stem,
)
def test_flash_attention_experiments_pass_the_card(variant):
    # bench/kernels.py --variants times them beside the reference on a GPU: only a variant the
    # card's verifier passes may be timed, or adopted.
    card = load_catalog()["flash_attention_triton"]
    verdict = grade(card, variant, warm=False)
    assert verdict["status"] == "pass", verdict.get("message")
