"""The migrations, registered with sqlite-utils (imported only when a database needs them)."""

from __future__ import annotations

from sqlite_utils.migrations import Migrations

from engine.migrations import SCHEMA_VERSION, STEPS  # noqa: F401 - re-exported

migrations = Migrations("drill")
for _step in STEPS:
    migrations()(_step)
