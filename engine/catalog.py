"""The card bank's metadata: find card folders, read and validate `card.toml`."""

from __future__ import annotations

import marshal
import os
from collections import namedtuple

CARD_FILES = ("card.toml", "prompt.md", "blank.py.j2", "reference.py", "verify.py")
DEVICES = {"cpu", "cuda"}
DIFFICULTIES = ("easy", "medium", "hard")
HINT_LEVELS = 3  # `drill hint`: key points, approach, then the reference
# The tracks, in the order drill shows them: folder name -> what users call it. A bank may hold
# other track folders (shown after these, under their folder name).
TRACKS = {"llm": "LLM", "ml": "PyTorch and classic ML", "gpu": "GPU and systems"}


def track_title(track: str) -> str:
    return TRACKS.get(track, track)


def track_order(track: str) -> tuple[int, str]:
    order = list(TRACKS)
    return (order.index(track) if track in order else len(order), track)


class CardError(Exception):
    """A card folder that cannot be used; the message says what to fix."""


_CARD_FIELDS = (
    "slug folder title track topics frequency frequency_source difficulty minutes contract"
    " prerequisites devices banned companies timeout_s interpret hints min_speedup"
)


class Card(namedtuple("Card", _CARD_FIELDS)):
    """A card's metadata (card.toml) and its folder. `interpret`: a Triton card graded under
    the interpreter where no GPU is present. A named tuple: cheap to import on the light path."""

    __slots__ = ()

    @property
    def path(self):
        from pathlib import Path

        return Path(self.folder)

    @property
    def prompt(self) -> str:
        with open(os.path.join(self.folder, "prompt.md"), encoding="utf-8") as f:
            text = f.read()
        if self.min_speedup:
            text = (
                text.rstrip()
                + f"\n\n**Speed bar:** on a GPU, a pass must also run at least "
                f"{self.min_speedup:g}x as fast as torch's own kernel on the same inputs.\n"
            )
        return text


def cards_root() -> str:
    root = os.environ.get("DRILL_CARDS") or os.path.join(
        os.path.dirname(__file__), "..", "cards"
    )
    return os.path.realpath(root)


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


# -- a cache of parsed card.toml files, so light commands do not re-parse the bank each call --
def _parse_toml(path: str, where: str, cache: dict) -> dict:
    """card.toml's contents; `cache` maps a file to ((mtime, size), data)."""
    stat = os.stat(path)
    signature = (stat.st_mtime_ns, stat.st_size)
    hit = cache.get(path)
    if hit and hit[0] == signature:
        return hit[1]
    import tomllib

    try:
        with open(path, encoding="utf-8") as f:
            data = tomllib.loads(f.read())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CardError(f"{where}: card.toml is not valid TOML ({exc})") from None
    cache[path] = (signature, data)
    cache["_dirty"] = True
    return data


def _cache_path() -> str:
    from engine.paths import data_dir

    return os.path.join(data_dir(), "catalog-cache.marshal")


def _read_cache() -> dict:
    try:
        with open(_cache_path(), "rb") as f:
            cache = marshal.load(f)
        return cache if isinstance(cache, dict) else {}
    except (OSError, ValueError, EOFError, TypeError):
        return {}


def _write_cache(cache: dict) -> None:
    if not cache.pop("_dirty", False):
        return
    path = _cache_path()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            marshal.dump(cache, f)
        os.replace(tmp, path)
    except (OSError, ValueError):
        pass  # a cache we cannot write only costs speed


def load_card(folder, cache: dict | None = None) -> Card:
    """Read one card folder; raises CardError naming the folder and what is wrong."""
    folder = os.fspath(folder)
    slug = os.path.basename(folder)
    where = f"card `{slug}`"
    missing = [
        name for name in CARD_FILES if not os.path.isfile(os.path.join(folder, name))
    ]
    if missing:
        raise CardError(f"{where} ({folder}) is missing {', '.join(missing)}")
    data = _parse_toml(
        os.path.join(folder, "card.toml"), where, cache if cache is not None else {}
    )
    card = Card(
        slug=slug,
        folder=folder,
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
        hints=_typed(data, "hints", list, where, []),
        min_speedup=_typed(data, "min_speedup", float, where, 0.0),
    )
    if not 0.0 <= card.frequency <= 1.0:
        raise CardError(
            f"{where}: `frequency` must be between 0 and 1, got {card.frequency}"
        )
    if card.difficulty not in DIFFICULTIES:
        raise CardError(f"{where}: `difficulty` must be one of {DIFFICULTIES}")
    if card.min_speedup < 0:
        raise CardError(f"{where}: `min_speedup` must not be negative")
    if card.minutes <= 0 or card.timeout_s <= 0:
        raise CardError(f"{where}: `minutes` and `timeout_s` must be positive")
    if not card.devices or set(card.devices) - DEVICES:
        raise CardError(
            f"{where}: `devices` must be a non-empty subset of {sorted(DEVICES)}"
        )
    track = os.path.basename(os.path.dirname(folder))
    if card.track != track:
        raise CardError(
            f"{where}: `track` is {card.track!r} but the folder is in {track}/"
        )
    return card


def _subfolders(folder: str) -> list[str]:
    with os.scandir(folder) as entries:
        return sorted(
            e.path for e in entries if e.is_dir() and not e.name.startswith(("_", "."))
        )


def _folders(root: str):
    if not os.path.isdir(root):
        raise CardError(f"no card bank at {root}")
    for track in _subfolders(root):
        yield from _subfolders(track)


def load_catalog(root=None, errors: list[str] | None = None) -> dict[str, Card]:
    """Every card under `root/<track>/<slug>/`, keyed by slug.

    Strict by default (CardError on the first bad card). Given an `errors` list, a bad card is
    skipped and its message appended there, so one broken folder does not stop the tool."""
    cards: dict[str, Card] = {}
    cache = _read_cache()

    def bad(message: str) -> None:
        if errors is None:
            _write_cache(cache)
            raise CardError(message)
        errors.append(message)

    for folder in _folders(os.fspath(root) if root else cards_root()):
        try:
            card = load_card(folder, cache)
        except CardError as exc:
            bad(str(exc))
            continue
        if card.slug in cards:
            bad(
                f"card `{card.slug}` exists twice: {cards[card.slug].folder} and {folder}"
            )
            continue
        cards[card.slug] = card
    for card in cards.values():
        unknown = [p for p in card.prerequisites if p not in cards]
        if unknown:
            bad(f"card `{card.slug}`: unknown prerequisites {unknown}")
    _write_cache(cache)
    return cards


def public_names(path) -> list[str]:
    """Top-level public functions and classes a solution file defines."""
    import ast

    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    return [
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.ClassDef))
        and not node.name.startswith("_")
    ]
