"""Triton's compiler errors in one line: the kernel's line in the attempt and what the compiler said.

Triton raises `CompilationError` ("at 56:24:" and up to 12 lines of the kernel's source), often
wrapped once per nested call, with the reason (`error_message`) on the innermost one only. A
verdict needs the reason and the line in the user's file, not the excerpt.
"""

from __future__ import annotations

import ast


def _innermost(exc):
    """The innermost error in `exc`'s chain that Triton's compiler raised (it has a source node
    or a reason), or None when the chain has none."""
    found, cause, seen = None, exc, set()
    while cause is not None and id(cause) not in seen:  # an attempt may chain in a loop
        seen.add(id(cause))
        if type(cause).__module__.startswith("triton") and (
            getattr(cause, "error_message", None)
            or getattr(cause, "node", None) is not None
        ):
            found = cause
        cause = cause.__cause__ or cause.__context__
    return found


def describe(exc, path: str) -> str | None:
    """'line N: `code`: <what the compiler said>' (the line in the attempt at `path`), the reason
    alone when the line cannot be placed, or None when `exc` is no compiler error."""
    inner = _innermost(exc)
    if inner is None:
        return None
    message = getattr(inner, "error_message", None) or str(inner).strip()
    message = " ".join(message.split())[:600]
    node, src = getattr(inner, "node", None), getattr(inner, "src", None)
    if node is None or not src or not getattr(node, "lineno", None):
        return message
    # The node's line counts from the kernel's `def`: find that def in the attempt.
    first = src.lstrip().split("(", 1)[0].removeprefix("def").strip()
    try:
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
    except (OSError, SyntaxError, ValueError):
        return message
    starts = [
        n.lineno
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef) and n.name == first
    ]
    if not starts:
        return message
    line = starts[0] + node.lineno - 1
    code = src.splitlines()[node.lineno - 1].strip()
    return f"line {line}: `{code}`: {message}"
