"""The verdict file shared by the grading child and the parent (standard library only)."""

from __future__ import annotations

import json
import os

RESULT_VERSION = 1
MESSAGE_LIMIT = 2000  # characters kept of any one message


def truncate(text: str, limit: int = MESSAGE_LIMIT) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... [truncated: {len(text) - limit} more characters]"


def write_result(path: str, result: dict) -> None:
    """Write atomically, so the parent never reads half a file."""
    result = {"version": RESULT_VERSION, "tests": [], **result}
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f)
    os.replace(tmp, path)
