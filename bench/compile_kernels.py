"""Compile every Triton card's reference, alternatives and mutants for an H100 (sm_90) with the
installed Triton, as a kernel card's last test does where there is no GPU, and print each
verdict and its time. No GPU needed.

    .venv/bin/python bench/compile_kernels.py [CARD ...]

References and alternatives must compile; the mutants named in COMPILER_ONLY must not (the
interpreter runs them; only the compiler catches them); the other mutants are shown for the
record (some also break a GPU rule, beside the bug their tests name).
"""

import os
import sys
import time
from pathlib import Path

os.environ["TRITON_INTERPRET"] = "1"  # record launches as the grading child does
os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import triton

from cards.compile_check import _compile, _load, _record

CARDS = [
    "vector_add_triton",
    "softmax_triton",
    "layernorm_triton",
    "matmul_triton",
    "flash_attention_triton",
]
COMPILER_ONLY = {
    "dot_k_tile_below_16",
    "tiles_overflow_shared_memory",
    "key_block_below_16",
    "num_warps_not_power_of_two",
}


def main(cards: list[str]) -> int:
    print(f"Triton {triton.__version__}, target sm_90 (an H100)")
    wrong = 0
    for card in cards:
        folder = ROOT / "cards" / "gpu" / card
        launches_of = _load(folder / "verify.py", f"verify_{card}")._gpu_launches
        files = [("reference", folder / "reference.py")]
        files += [
            ("alternative", p) for p in sorted((folder / "alternatives").glob("*.py"))
        ]
        files += [("mutant", p) for p in sorted((folder / "mutants").glob("*.py"))]
        for kind, path in files:
            try:
                impl = _load(path, f"attempt_{card}_{path.stem}")
            except Exception as exc:  # noqa: BLE001 - a banned-API mutant may not even import
                print(f"  {card:24} {kind:11} {path.stem:34} not imported: {exc}")
                continue
            launches, _ = _record(impl, launches_of)
            start = time.perf_counter()
            result = _compile(impl, launches) if launches else {"failures": []}
            seconds = time.perf_counter() - start
            failures = result.get("failures", [])
            verdict = result.get("unavailable") or (
                f"REJECTED: {failures[0][:110]}" if failures else "compiles"
            )
            expected_to_fail = kind == "mutant" and path.stem in COMPILER_ONLY
            ok = (
                kind == "mutant"
                and not expected_to_fail
                or (bool(failures) == expected_to_fail)
            )
            wrong += not ok
            mark = "ok " if ok else "!! "
            print(
                f"{mark}{card:24} {kind:11} {path.stem:34} {len(launches):2} launches "
                f"{seconds:5.1f} s  {verdict}"
            )
    print("all as expected" if not wrong else f"{wrong} unexpected")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or CARDS))
