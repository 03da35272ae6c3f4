"""The card bank's metadata: find card folders, read and validate `card.toml`."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

CARD_FILES = ("card.toml", "prompt.md", "blank.py.j2", "reference.py", "verify.py")
DEVICES = {"cpu", "cuda"}
DIFFICULTIES = ("easy", "medium", "hard")


class CardError(Exception):
    """A card folder that cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class Card:
    slug: str
    path: Path
    title: str
    track: str
    topics: list[str]
    frequency: float
    frequency_source: str
    difficulty: str
    minutes: int
    contract: str
    prerequisites: list[str] = field(default_factory=list)
    devices: list[str] = field(default_factory=lambda: ["cpu"])
    banned: list[str] = field(default_factory=list)
    companies: list[str] = field(default_factory=list)
    timeout_s: float = 60.0
    interpret: bool = (
        False  # a Triton card graded under the interpreter where no GPU is present
    )

    @property
    def prompt(self) -> str:
        return (self.path / "prompt.md").read_text(encoding="utf-8")


def cards_root() -> Path:
    root = os.environ.get("DRILL_CARDS") or Path(__file__).parent.parent / "cards"
    return Path(root).resolve()


def _typed(data: dict, key: str, kind, where: str, default=None):
    if key not in data:
        if default is None:
            raise CardError(f"{where}: `{key}` is missing from card.toml")
        return default
    value = data[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise CardError(f"{where}: `{key}` must be a {kind.__name__}, got {value!r}")
    if kind is list and not all(isinstance(v, str) for v in value):
        raise CardError(f"{where}: `{key}` must be a list of strings")
    return value


def _parse_toml(path: Path, where: str, cache: dict) -> dict:
    """card.toml's contents; `cache` maps a file to (mtime, size, data) so that the light
    commands do not re-parse every card on every call."""
    stat = path.stat()
    signature = [stat.st_mtime_ns, stat.st_size]
    hit = cache.get(str(path))
    if hit and hit[0] == signature:
        return hit[1]
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CardError(f"{where}: card.toml is not valid TOML ({exc})") from None
    cache[str(path)] = [signature, data]
    cache["_dirty"] = True
    return data


def _cache_path() -> Path:
    from engine.paths import data_dir

    return data_dir() / "catalog-cache.json"


def _read_cache() -> dict:
    try:
        return json.loads(_cache_path().read_text())
    except (OSError, ValueError):
        return {}


def _write_cache(cache: dict) -> None:
    if not cache.pop("_dirty", False):
        return
    path = _cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache))
        os.replace(tmp, path)
    except OSError:
        pass  # a cache we cannot write only costs speed


def load_card(path: Path, cache: dict | None = None) -> Card:
    """Read one card folder; raises CardError naming the folder and what is wrong."""
    where = f"card `{path.name}`"
    missing = [name for name in CARD_FILES if not (path / name).is_file()]
    if missing:
        raise CardError(f"{where} ({path}) is missing {', '.join(missing)}")
    data = _parse_toml(path / "card.toml", where, cache if cache is not None else {})
    card = Card(
        slug=path.name,
        path=path,
        title=_typed(data, "title", str, where),
        track=_typed(data, "track", str, where),
        topics=_typed(data, "topics", list, where),
        frequency=_typed(data, "frequency", float, where),
        frequency_source=_typed(data, "frequency_source", str, where),
        difficulty=_typed(data, "difficulty", str, where),
        minutes=_typed(data, "minutes", int, where),
        contract=_typed(data, "contract", str, where),
        prerequisites=_typed(data, "prerequisites", list, where, []),
        devices=_typed(data, "devices", list, where, ["cpu"]),
        banned=_typed(data, "banned", list, where, []),
        companies=_typed(data, "companies", list, where, []),
        timeout_s=_typed(data, "timeout_s", float, where, 60.0),
        interpret=_typed(data, "interpret", bool, where, False),
    )
    if not 0.0 <= card.frequency <= 1.0:
        raise CardError(
            f"{where}: `frequency` must be between 0 and 1, got {card.frequency}"
        )
    if card.difficulty not in DIFFICULTIES:
        raise CardError(f"{where}: `difficulty` must be one of {DIFFICULTIES}")
    if card.minutes <= 0 or card.timeout_s <= 0:
        raise CardError(f"{where}: `minutes` and `timeout_s` must be positive")
    if not card.devices or set(card.devices) - DEVICES:
        raise CardError(
            f"{where}: `devices` must be a non-empty subset of {sorted(DEVICES)}"
        )
    if card.track != path.parent.name:
        raise CardError(
            f"{where}: `track` is {card.track!r} but the folder is in {path.parent.name}/"
        )
    return card


def _folders(root: Path):
    if not root.is_dir():
        raise CardError(f"no card bank at {root}")
    visible = lambda p: p.is_dir() and not p.name.startswith(("_", "."))
    for track in sorted(filter(visible, root.iterdir())):
        yield from sorted(filter(visible, track.iterdir()))


def load_catalog(
    root: Path | None = None, errors: list[str] | None = None
) -> dict[str, Card]:
    """Every card under `root/<track>/<slug>/`, keyed by slug.

    Strict by default (CardError on the first bad card). Given an `errors` list, a bad card is
    skipped and its message appended there, so one broken folder does not stop the tool."""
    cards: dict[str, Card] = {}
    cache = _read_cache()

    def bad(message: str) -> None:
        if errors is None:
            raise CardError(message)
        errors.append(message)

    for folder in _folders(root or cards_root()):
        try:
            card = load_card(folder, cache)
        except CardError as exc:
            _write_cache(cache)
            bad(str(exc))
            continue
        if card.slug in cards:
            bad(
                f"card `{card.slug}` exists twice: {cards[card.slug].path} and {folder}"
            )
            continue
        cards[card.slug] = card
    for card in cards.values():
        unknown = [p for p in card.prerequisites if p not in cards]
        if unknown:
            bad(f"card `{card.slug}`: unknown prerequisites {unknown}")
    _write_cache(cache)
    return cards


def public_names(path: Path) -> list[str]:
    """Top-level public functions and classes a solution file defines."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.ClassDef))
        and not node.name.startswith("_")
    ]
