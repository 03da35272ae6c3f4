"""From scratch means from scratch: find banned APIs in an attempt, statically and at run time.

Static: resolve every name and attribute chain of the attempt through its imports
(`import torch.nn.functional as G`, `from torch import softmax as s`) to a dotted name and
compare it with the card's `banned` list. A banned `torch.Tensor.<method>` also matches
`<anything>.<method>`, since the static check cannot know which names are tensors, and a banned
private name (`torch._VF`) matches wherever its package re-exports it.

Run time: each banned callable is replaced by a wrapper that raises `BannedCallError` when
the attempt's file is on the call stack, so the verifier can still use the real thing as its
reference, and `getattr` tricks or names bound at import time are caught too.
"""

from __future__ import annotations

import ast
import importlib
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Violation:
    name: str  # the banned dotted name
    line: int  # line in the attempt (0 if unknown)

    def describe(self) -> str:
        where = f" on line {self.line}" if self.line else ""
        return (
            f"uses banned `{self.name}`{where}: this drill must be written from scratch"
        )


def _matches(dotted: str, banned: list[str]) -> str | None:
    for name in banned:
        if dotted == name or dotted.startswith(name + "."):
            return name
    segments = dotted.split(".")
    for name in banned:
        # A private name is the same object wherever a package re-exports it
        # (`torch.nn.modules.rnn._VF` is `torch._VF`): banned by its last segment inside
        # the same package.
        root, last = name.split(".")[0], name.rsplit(".", 1)[-1]
        if last.startswith("_") and segments[0] == root and last in segments[1:]:
            return name
    return None


def _dotted(node: ast.AST) -> list[str] | None:
    """`a.b.c` -> ["a", "b", "c"]; None when the chain does not start at a plain name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return parts[::-1]
    return None


def static_violations(source: str, banned: list[str]) -> list[Violation]:
    """Banned names the source refers to. Raises SyntaxError for a file that does not parse."""
    tree = ast.parse(source)
    aliases: dict[str, str] = {}
    found: list[Violation] = []
    tensor_methods = {
        n.rsplit(".", 1)[1] for n in banned if n.startswith("torch.Tensor.")
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                hit = _matches(a.name, banned)
                if hit:
                    found.append(Violation(hit, node.lineno))
                if a.asname:
                    aliases[a.asname] = a.name
                else:
                    top = a.name.split(".")[0]
                    aliases[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                full = f"{node.module}.{a.name}"
                hit = _matches(full, banned)
                if hit:
                    found.append(Violation(hit, node.lineno))
                aliases[a.asname or a.name] = full
    for node in ast.walk(tree):
        if isinstance(node, (ast.Attribute, ast.Name)):
            parts = _dotted(node)
            if parts is None:
                if isinstance(node, ast.Attribute) and node.attr in tensor_methods:
                    found.append(Violation(f"torch.Tensor.{node.attr}", node.lineno))
                continue
            # a chain through an import: judged by its full name
            if parts[0] in aliases:
                full = ".".join([aliases[parts[0]], *parts[1:]])
                hit = _matches(full, banned)
                if hit:
                    found.append(Violation(hit, node.lineno))
                continue
            if isinstance(node, ast.Attribute) and node.attr in tensor_methods:
                found.append(Violation(f"torch.Tensor.{node.attr}", node.lineno))
    unique = {(v.name, v.line): v for v in found}
    return sorted(unique.values(), key=lambda v: (v.line, v.name))


class BannedCallError(RuntimeError):
    """Raised when the attempt calls a banned API at run time."""


class RuntimeGuard:
    """Wraps banned callables so that calls made from the attempt's file raise."""

    def __init__(self, attempt_path: str, banned: list[str]):
        self.attempt_path = attempt_path
        self.banned = banned
        self.violations: list[Violation] = []

    def _attempt_line(self) -> int | None:
        frame = sys._getframe(2)
        while frame is not None:
            if frame.f_code.co_filename == self.attempt_path:
                return frame.f_lineno
            frame = frame.f_back
        return None

    def _wrap(self, name: str, original):
        guard = self

        if isinstance(original, type):
            # A banned class: constructing it from the attempt is the violation.
            def __init__(self, *args, **kwargs):
                guard._check(name)
                original.__init__(self, *args, **kwargs)

            return type(original.__name__, (original,), {"__init__": __init__})

        def wrapper(*args, **kwargs):
            guard._check(name)
            return original(*args, **kwargs)

        wrapper.__name__ = getattr(original, "__name__", name.rsplit(".", 1)[-1])
        wrapper.__doc__ = getattr(original, "__doc__", None)
        wrapper.__wrapped_banned__ = original
        return wrapper

    def _check(self, name: str) -> None:
        line = self._attempt_line()
        if line is not None:
            violation = Violation(name, line)
            self.violations.append(violation)
            raise BannedCallError(violation.describe())

    def install(self) -> None:
        for name in self.banned:
            owner, attr = _resolve_owner(name)
            if owner is None:
                continue
            original = getattr(owner, attr)
            if isinstance(original, type(sys)) or not callable(original):
                # A banned module or namespace (`torch._C._VariableFunctions`, `torch.ops.aten`):
                # covered statically. Replacing it with a function would break torch itself
                # (`1 - x` looks up `_VariableFunctions.rsub`) for every solution.
                continue
            try:
                setattr(owner, attr, self._wrap(name, original))
            except (AttributeError, TypeError):
                pass  # a read-only builtin: the static check and the card's own checks cover it


def _resolve_owner(dotted: str):
    """`torch.nn.functional.softmax` -> (module torch.nn.functional, "softmax")."""
    parts = dotted.split(".")
    for i in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for p in parts[i:-1]:
                obj = getattr(obj, p)
            getattr(obj, parts[-1])
        except AttributeError:
            return None, None
        return obj, parts[-1]
    return None, None
