"""Where drill keeps its data: the platform's user-data directory, or `DRILL_HOME`.

Plain strings and os.path, not pathlib or platformdirs: this runs on every light command, and
those imports cost more than the rest of `drill today` (bench/bench.py)."""

from __future__ import annotations

import os
import sys


def _platform_data_dir() -> str:
    """The per-user data directory, as platformdirs' user_data_dir('drill') gives it."""
    home = os.path.expanduser("~")
    if sys.platform == "darwin":
        return os.path.join(home, "Library", "Application Support", "drill")
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.join(home, "AppData", "Local")
        return os.path.join(base, "drill")
    base = os.environ.get("XDG_DATA_HOME", "").strip() or os.path.join(
        home, ".local", "share"
    )
    return os.path.join(base, "drill")


def data_dir() -> str:
    home = os.environ.get("DRILL_HOME")
    return os.path.expanduser(home) if home else _platform_data_dir()


def db_path() -> str:
    return os.path.join(data_dir(), "drill.db")


def workspace_dir() -> str:
    return os.path.join(data_dir(), "workspace")
