"""The grading child: `python -m drills.child SPEC.json`. Never imported by the CLI.

Order matters: the runtime guard is installed before the attempt is imported (so names bound
at import time are the guarded ones), and the Triton interpreter is switched on before Triton is
imported. The verdict is the JSON file the reporter writes, not this process's exit code.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import traceback

from drills.banned import BannedCallError, RuntimeGuard, static_violations
from drills.result import write_result


def _attempt_error(exc: BaseException, path: str) -> str:
    """One line a person can act on: the exception and the attempt's line where it happened."""
    if isinstance(exc, SyntaxError):
        return f"SyntaxError on line {exc.lineno}: {exc.msg}"
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == path:
            line = frame.lineno
    where = f" on line {line}" if line else ""
    return f"{type(exc).__name__}{where} while importing the attempt: {exc}"


def _load_attempt(path: str):
    spec = importlib.util.spec_from_file_location("attempt", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["attempt"] = module
    spec.loader.exec_module(module)
    return module


def _devices(wanted: list[str], interpret: bool) -> list[str]:
    import torch

    if os.environ.get("DRILL_DEVICE"):
        return os.environ["DRILL_DEVICE"].split(",")
    have_cuda = torch.cuda.is_available()
    devices = [d for d in wanted if d == "cpu" or (d == "cuda" and have_cuda)]
    if not devices and interpret:
        devices = [
            "cpu"
        ]  # a kernel card on a machine without a GPU: Triton's interpreter
    return devices


def _set_limits(limits: dict) -> None:
    """Caps set here, first thing, rather than in a preexec_fn (unsafe with the bank's threads)."""
    import resource

    out = limits.get("output_bytes")
    if out:
        resource.setrlimit(resource.RLIMIT_FSIZE, (out, out))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    memory = limits.get("memory_bytes")
    if memory:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))


def main(spec_path: str) -> int:
    with open(spec_path) as f:
        spec = json.load(f)
    _set_limits(spec.get("limits", {}))
    out, path = spec["result"], spec["attempt"]
    base = {"card": spec["card"], "device": ""}

    try:
        with open(path, encoding="utf-8") as f:
            source = f.read()
        violations = static_violations(source, spec["banned"])
    except SyntaxError as exc:
        write_result(
            out, {**base, "status": "error", "message": _attempt_error(exc, path)}
        )
        return 0
    except (OSError, UnicodeDecodeError) as exc:
        write_result(
            out,
            {**base, "status": "error", "message": f"cannot read the attempt: {exc}"},
        )
        return 0
    if violations:
        message = "; ".join(v.describe() for v in violations)
        write_result(out, {**base, "status": "banned", "message": message})
        return 0

    devices = _devices(spec["devices"], spec.get("interpret", False))
    if not devices:
        message = f"this card needs one of {spec['devices']} and none is available here"
        write_result(out, {**base, "status": "error", "message": message})
        return 0
    base["device"] = ",".join(devices)
    if spec.get("interpret") and "cuda" not in devices:
        os.environ["TRITON_INTERPRET"] = "1"

    guard = RuntimeGuard(os.path.abspath(path), spec["banned"])
    guard.install()
    try:
        module = _load_attempt(path)
    except BannedCallError as exc:
        write_result(out, {**base, "status": "banned", "message": str(exc)})
        return 0
    except BaseException as exc:  # noqa: BLE001 - any failure to import is the attempt's
        write_result(
            out, {**base, "status": "error", "message": _attempt_error(exc, path)}
        )
        return 0

    missing = [name for name in spec.get("names", []) if not hasattr(module, name)]
    if missing:
        names = ", ".join(f"`{n}`" for n in missing)
        message = (
            f"the attempt does not define {names} (see the contract in the header)"
        )
        write_result(out, {**base, "status": "error", "message": message})
        return 0

    import pytest

    from drills.plugin import Reporter

    reporter = Reporter(module, devices, guard, out, base, path)
    args = [
        spec["verify"],
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        "--rootdir",
        os.path.dirname(spec["verify"]),
        "-c",
        os.devnull,
        "--tb=short",
        "-W",
        "ignore::DeprecationWarning",
    ]
    code = pytest.main(args, plugins=[reporter])
    reporter.finish(int(code))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
