"""drill's speed figures, measured side by side in one run (the machines are shared and noisy).

1. `drill today`, `drill list`, `drill --help`: median wall time over N runs each, on a database
   holding three years of daily reviews of every card, next to a bare `python -c pass`.
2. `drill check` on the attention reference next to a bare pytest run of the same verifier.

Usage: python bench/bench.py [--runs N] [--check-runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def fill_history(home: Path, years: int = 3) -> int:
    """Three years of daily reviews of every card, as a user who drills every day would have."""
    from engine.catalog import load_catalog
    from engine.store import Store

    store = Store(home / "drill.db")
    start = datetime(2026, 11, 29, 9, tzinfo=UTC) - timedelta(days=365 * years)
    slugs = list(load_catalog(errors=[]))
    count = 0
    with store.db.conn:  # one transaction: this is set-up, not what is measured
        store._write = _no_commit  # reviews go into the open transaction
        for day in range(365 * years):
            for i, slug in enumerate(slugs):
                store.review(
                    slug,
                    (5, 4, 3, 5, 2)[(day + i) % 5],
                    start + timedelta(days=day),
                    4,
                    "check",
                )
                count += 1
    return count


class _no_commit:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def time_command(argv: list[str], env: dict, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(
            argv,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
        )
        times.append(time.perf_counter() - t)
    return times


def interleaved(
    commands: dict[str, list[str]], env: dict, runs: int
) -> dict[str, list[float]]:
    """Each round runs every command once, so load changes hit all of them alike."""
    times = {name: [] for name in commands}
    for _ in range(runs):
        for name, argv in commands.items():
            times[name] += time_command(argv, env, 1)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--check-runs", type=int, default=5)
    parser.add_argument(
        "--light-only", action="store_true", help="skip the grading figures"
    )
    args = parser.parse_args()
    drill = str(Path(sys.executable).parent / "drill")
    with tempfile.TemporaryDirectory() as home:
        env = {
            **os.environ,
            "DRILL_HOME": home,
            "DRILL_NOW": "2026-11-29T10:00:00+00:00",
        }
        env.pop(
            "PYTHONDONTWRITEBYTECODE", None
        )  # measure as users run it: with .pyc files
        t = time.perf_counter()
        n = fill_history(Path(home))
        print(f"history: {n} reviews ({time.perf_counter() - t:.1f} s to write)")
        subprocess.run(
            [drill, "today"], env=env, check=True, stdout=subprocess.DEVNULL
        )  # warm caches
        light = interleaved(
            {
                "python -c pass": [sys.executable, "-c", "pass"],
                "python -c 'import click'": [sys.executable, "-c", "import click"],
                "drill --help": [drill, "--help"],
                "drill today": [drill, "today"],
                "drill list": [drill, "list"],
                "drill today --json": [drill, "today", "--json"],
            },
            env,
            args.runs,
        )
        print(
            f"\nlight commands: median of {args.runs} runs each (goal: <= 50 ms on a laptop)"
        )
        for name, times in light.items():
            print(
                f"  {name:26s} {statistics.median(times) * 1000:7.1f} ms   (min {min(times) * 1000:.1f})"
            )

        if args.light_only:
            return
        reference = ROOT / "cards" / "llm" / "attention" / "reference.py"
        verify = ROOT / "cards" / "llm" / "attention" / "verify.py"
        bare_env = {
            **env,
            "BARE_IMPL": str(reference),
            "PYTHONPATH": str(ROOT / "bench"),
        }
        check = interleaved(
            {
                "drill check": [
                    drill,
                    "check",
                    str(reference),
                    "--card",
                    "attention",
                    "--json",
                    "--no-record",
                ],
                "bare pytest": [
                    sys.executable,
                    "-m",
                    "pytest",
                    "-q",
                    "-p",
                    "bare_plugin",
                    "-p",
                    "no:cacheprovider",
                    # the same pytest options as drill's grading child
                    "-p",
                    "no:randomly",
                    "--rootdir",
                    str(verify.parent),
                    "-c",
                    os.devnull,
                    "--tb=short",
                    "-W",
                    "ignore::DeprecationWarning",
                    str(verify),
                ],
            },
            bare_env,
            args.check_runs,
        )
        drill_s, bare_s = (
            statistics.median(check["drill check"]),
            statistics.median(check["bare pytest"]),
        )
        print(
            f"\ngrading the attention reference: median of {args.check_runs} runs each"
        )
        print(f"  drill check          {drill_s:6.2f} s")
        print(f"  bare pytest          {bare_s:6.2f} s")
        print(
            f"  overhead             {drill_s - bare_s:+6.2f} s ({drill_s / bare_s:.2f}x)"
        )


if __name__ == "__main__":
    main()
