"""An attempt may not patch its grader.

The attempt and its verifier share one process, so an attempt could rebind `torch.allclose`,
`torch.testing.assert_close` or a pytest hook and return zeros. A snapshot of the namespaces the
verifiers and the reporter rely on is taken before the attempt is imported (after the banned-API
guard is in place); any name there that the attempt rebinds or deletes makes the verdict `banned`,
whatever the tests said. New names are fine: modules load lazily. So is a rebinding by library code
(importing `torch._dynamo` wraps `torch.manual_seed`): a new value counts as the attempt's unless it
is a Python function whose code lives in the standard library or site-packages.
"""

from __future__ import annotations

import importlib
import sys
import sysconfig

WATCHED_MODULES = (
    "builtins",
    "math",
    "torch",
    "torch.testing",
    "torch.nn.functional",
    "numpy",
    "numpy.testing",
    "pytest",
    "_pytest.runner",
    "_pytest.reports",
    "_pytest.python",
    "cards.checks",
    "cards.compile_check",
    "cards.attention_diagnosis",
    "cards.kernels",
    "cards.distributed",
    "cards.sampling",
    "cards.speed",
    "drills.grading.plugin",
    "drills.grading.verdict",
)
_MISSING = object()
_LIBRARIES = tuple(
    {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
)


def _by_library(value, attempt: str) -> bool:
    code = getattr(value, "__code__", None)
    # a builtin, a partial, a mock, a constant: not how libraries patch
    if code is None:
        return False
    return code.co_filename != attempt and code.co_filename.startswith(_LIBRARIES)


def _classes() -> list[tuple[str, type]]:
    found = []
    torch = sys.modules.get("torch")
    if torch is not None:
        found.append(("torch.Tensor", torch.Tensor))
    plugin = sys.modules.get("drills.grading.plugin")
    if plugin is not None:
        found.append(("drills.grading.plugin.Reporter", plugin.Reporter))
    return found


class TamperWatch:
    """Remembers every public binding of the watched namespaces; `changes()` lists the rebound."""

    def __init__(self, attempt: str):
        self.attempt = attempt
        self.before: list[tuple[str, object, dict]] = []
        for name in WATCHED_MODULES:
            try:
                module = importlib.import_module(name)
            except ImportError:
                continue
            self.before.append((name, module, dict(vars(module))))
        for name, cls in _classes():
            self.before.append((name, cls, dict(vars(cls))))

    def changes(self) -> list[str]:
        changed = []
        for name, owner, before in self.before:
            now = vars(owner)
            for key, value in before.items():
                if name == "builtins" and key.startswith("_"):
                    continue
                new = now.get(key, _MISSING)
                if new is not value and not _by_library(new, self.attempt):
                    changed.append(f"{name}.{key}")
        return changed


def tamper_message(changed: list[str]) -> str:
    names = ", ".join(f"`{n}`" for n in changed[:5])
    more = f" and {len(changed) - 5} more" if len(changed) > 5 else ""
    return (
        f"the attempt patches {names}{more}: an attempt may not change torch, numpy, pytest "
        "or the grader (write the function, not its judge)"
    )
