"""The card kit: `drill cards new`, the catalog grouped by track, the README's card table."""

import json
import shutil

from test_cli import run

from drills.readme import README, card_table, with_table
from engine.catalog import load_catalog


def _bank(tmp_path, monkeypatch):
    """A bank with the toy card `add_scaled` filed under the llm track."""
    from conftest import TOY_CARDS

    bank = tmp_path / "bank"
    shutil.copytree(TOY_CARDS / "toy" / "add_scaled", bank / "llm" / "add_scaled")
    toml = bank / "llm" / "add_scaled" / "card.toml"
    toml.write_text(toml.read_text().replace('track = "toy"', 'track = "llm"'))
    monkeypatch.setenv("DRILL_CARDS", str(bank))
    return bank


def test_new_card_is_a_folder_the_self_test_runs(tmp_path, monkeypatch):
    bank = _bank(tmp_path, monkeypatch)
    out = run("cards", "new", "my_norm", "--track", "llm").output
    assert f"created {bank / 'llm' / 'my_norm'}" in out
    card = load_catalog()["my_norm"]
    assert card.track == "llm" and card.devices == ["cpu", "cuda"]
    result = run("cards", "check", "my_norm", ok=False)
    # The blank fails as it must; what is left to write is listed, one line each.
    assert "ok  my_norm: blank is rejected" in result.output
    assert "placeholder reference: replace it" in result.output
    assert "has 0 mutants" in result.output
    assert "has 0 alternatives" in result.output


def test_new_gpu_card_grades_under_the_interpreter_without_a_gpu(tmp_path, monkeypatch):
    _bank(tmp_path, monkeypatch)
    run("cards", "new", "vector_sub", "--track", "gpu", "--title", 'A "quoted" title')
    card = load_catalog()["vector_sub"]
    assert card.devices == ["cuda"] and card.interpret
    assert card.title == "A 'quoted' title"


def test_new_card_refuses_bad_input_in_one_line(tmp_path, monkeypatch):
    bank = _bank(tmp_path, monkeypatch)
    for args, words in [
        (["add_scaled", "--track", "llm"], "card `add_scaled` exists already"),
        (["Bad-Slug", "--track", "llm"], "use lower case letters"),
        (["fine", "--track", "nope"], "unknown track 'nope'; tracks: llm, ml, gpu"),
    ]:
        result = run("cards", "new", *args, ok=False)
        assert words in result.output
        assert len(result.output.strip().splitlines()) == 1
    assert sorted(p.name for p in (bank / "llm").iterdir()) == ["add_scaled"]


def test_list_groups_the_catalog_by_track(tmp_path, monkeypatch):
    _bank(tmp_path, monkeypatch)
    run("cards", "new", "vector_sub", "--track", "gpu")
    run("cards", "new", "often", "--track", "llm")
    out = run("list").output
    llm, gpu = out.index("LLM (2 cards)"), out.index("GPU and systems (1 card)")
    # Tracks in their order; most-asked first within one (add_scaled 0.50, often 0.10).
    assert (
        llm
        < out.index("add_scaled")
        < out.index("often")
        < gpu
        < out.index("vector_sub")
    )
    rows = json.loads(run("list", "--json").output)
    assert {r["slug"]: r["track"] for r in rows}["vector_sub"] == "gpu"


def test_readme_card_table_is_generated_from_the_bank():
    table = card_table()
    text = README.read_text(encoding="utf-8")
    assert with_table(text, table) == text, (
        "the README's card table is out of date: run `python -m drills.readme`"
    )
    for card in load_catalog().values():
        assert f"| `{card.slug}` |" in table


def test_references_only_grades_each_reference_and_nothing_else(toy_cards):
    out = run("cards", "check", "--references-only", "-j", "2").output
    graded = [line for line in out.splitlines() if line.startswith("ok  ")]
    assert graded == [
        "ok  add_scaled: reference passes",
        "ok  scale: reference passes",
        "ok  twice: reference passes",
    ]
    assert "card bank OK" in out
