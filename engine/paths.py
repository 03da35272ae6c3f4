"""Where drill keeps its data: the platform's user-data directory, or `DRILL_HOME`."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    home = os.environ.get("DRILL_HOME")
    if home:
        return Path(home).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("drill", appauthor=False))


def db_path() -> Path:
    return data_dir() / "drill.db"


def workspace_dir() -> Path:
    return data_dir() / "workspace"
