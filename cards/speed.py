"""Speed feedback for kernel cards (the card kit): on a GPU, a passing kernel is timed beside
torch's own kernel in the same run, and the ratio is banded.

A kernel card's verifier has one speed test, skipped off the GPU:

    def test_speed(impl, device, speed_report):
        if device != "cuda":
            pytest.skip("speed is measured on a GPU")
        x = ...
        measure(speed_report, lambda: impl.softmax(x), lambda: torch.softmax(x, -1),
                work=2 * x.numel() * x.element_size(), unit="GB/s", recheck=...)

`measure` times both with `triton.testing.do_bench` (warm-up, the L2 cache flushed before every
run, the median of many runs), then runs `recheck()`, a correctness check on fresh inputs, so
that an attempt which caches its last answer cannot pass. The report goes into the verdict
(`drill check` prints it, `drill list` shows each card's best). A card's `min_speedup` is a bar
that a pass must clear; more than `SUSPICIOUS` times torch's speed is flagged, not celebrated.
"""

import pytest

# (lowest speed-up, band), best first; below the last, "broken" (a kernel that slow is no use).
BANDS = ((0.9, "vendor-class"), (0.5, "tutorial-class"), (0.1, "works"))
SUSPICIOUS = 10.0


def band(speedup: float) -> str:
    if speedup > SUSPICIOUS:
        return "flagged"
    return next((name for low, name in BANDS if speedup >= low), "broken")


def median_ms(fn) -> float:
    from triton.testing import do_bench

    return do_bench(fn, warmup=25, rep=100, return_mode="median")


def measure(
    speed_report, attempt, reference, work: float, unit: str, recheck, timer=median_ms
) -> dict:
    """Time `attempt()` and `reference()` (torch's kernel) on the same inputs, recheck
    correctness on fresh inputs, report, and fail below the card's speed bar. `work` is the
    FLOPs (unit TFLOP/s) or bytes moved (unit GB/s) of one call; `timer(fn)` gives fn's
    milliseconds (drill's own tests pass a fake one)."""
    attempt_ms, reference_ms = timer(attempt), timer(reference)
    recheck()
    per_s = 1e12 if unit.startswith("T") else 1e9
    speedup = reference_ms / attempt_ms
    report = {
        "unit": unit,
        "attempt": work / (attempt_ms * 1e-3) / per_s,
        "reference": work / (reference_ms * 1e-3) / per_s,
        "speedup": round(speedup, 3),
        "band": band(speedup),
        "attempt_ms": round(attempt_ms, 4),
        "reference_ms": round(reference_ms, 4),
    }
    if speedup > SUSPICIOUS:
        report["note"] = (
            f"more than {SUSPICIOUS:g}x torch's own kernel is not plausible: is work skipped, "
            "or a result reused between calls?"
        )
    speed_report(report)
    bar = speed_report.min_speedup
    if bar and speedup < bar:
        pytest.fail(
            f"too slow for this card's speed bar: {speedup:.2f}x torch's speed on the same "
            f"inputs ({report['attempt']:.3g} against {report['reference']:.3g} {unit}); "
            f"a pass needs at least {bar:g}x"
        )
    return report
