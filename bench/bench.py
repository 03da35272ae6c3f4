"""drill's speed figures, measured side by side in one run (the machines are shared and noisy).

1. `drill today`, `drill list`, `drill status`, `drill --help`: median wall time over N runs
   each, on a database holding three years of daily drills of every card (plans, attempts,
   checks, reviews), next to a bare `python -c pass`, with the ratio (goal: today <= 2.5x).
2. Grading the attention reference: a warm check (a warm grader is running), the first check
   when none is (it starts one), a cold check (DRILL_WARM=0), and a bare pytest run of the same
   verifier; then save-to-verdict in `drill check --watch`.
3. With --bank: the whole bank's self-test, warm and cold, wall and CPU time per verdict.

Usage: python bench/bench.py [--runs N] [--check-runs N] [--light-only] [--bank]
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
    """Three years of daily drills of every card, as a user who drills every day would have:
    each day's plan, and per card an attempt, its check and its review."""
    from engine.catalog import load_catalog
    from engine.clock import iso
    from engine.schedule import step
    from engine.store import Store

    store = Store(home / "drill.db")
    start = datetime(2026, 11, 29, 9, tzinfo=UTC) - timedelta(days=365 * years)
    slugs = list(load_catalog(errors=[]))
    states, count = {}, 0
    with store.transaction():  # one transaction: this is set-up, not what is measured
        for d in range(365 * years):
            when = start + timedelta(days=d)
            day = when.date()
            for i, slug in enumerate(slugs):
                quality = (5, 4, 3, 5, 2)[(d + i) % 5]
                states[slug], review = step(states.get(slug), slug, quality, day)
                store.upsert("schedule", states[slug]._asdict(), "card")
                store.insert(
                    "reviews",
                    {**review._asdict(), "at": iso(when), "source": "check"},
                )
                store.insert(
                    "plans",
                    {"day": day.isoformat(), "pos": i + 1, "card": slug, "kind": "due",
                     "minutes": 10, "reason": "due today", "added_at": iso(when)},
                )  # fmt: skip
                attempt = store.insert(
                    "attempts",
                    {"card": slug, "started_at": iso(when), "deadline_at": iso(when),
                     "path": "/dev/null", "ended_at": iso(when), "outcome": "pass",
                     "quality": quality, "day": day.isoformat(), "checks": 1},
                )  # fmt: skip
                store.insert(
                    "checks",
                    {"attempt_id": attempt, "card": slug, "at": iso(when), "status": "pass",
                     "passed": 10, "failed": 0, "duration_s": 0.2, "device": "cpu",
                     "verdict": "{}"},
                )  # fmt: skip
                count += 1
    return count


def time_command(argv: list[str], env: dict, runs: int, ok=(0,)) -> list[float]:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        done = subprocess.run(
            argv,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        times.append(time.perf_counter() - t)
        if done.returncode not in ok:
            raise SystemExit(f"{' '.join(argv)} exited {done.returncode}")
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
    parser.add_argument(
        "--bank",
        action="store_true",
        help="also time the whole bank's self-test, warm and cold (minutes)",
    )
    args = parser.parse_args()
    drill = str(Path(sys.executable).parent / "drill")
    with tempfile.TemporaryDirectory() as home:
        env = {
            **os.environ,
            "DRILL_HOME": home,
            "DRILL_NOW": "2026-11-29T10:00:00+00:00",
        }
        # measure as users run it: with .pyc files
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        t = time.perf_counter()
        n = fill_history(Path(home))
        print(f"history: {n} reviews ({time.perf_counter() - t:.1f} s to write)")
        # warm caches
        subprocess.run([drill, "today"], env=env, check=True, stdout=subprocess.DEVNULL)
        light = interleaved(
            {
                "python -c pass": [sys.executable, "-c", "pass"],
                "python -c 'import click'": [sys.executable, "-c", "import click"],
                "drill --help": [drill, "--help"],
                "drill today": [drill, "today"],
                "drill list": [drill, "list"],
                "drill today --json": [drill, "today", "--json"],
                "drill (bare)": [drill],
                "drill status": [drill, "status"],
            },
            env,
            args.runs,
        )
        print(
            f"\nlight commands: median of {args.runs} runs each (goal: <= 50 ms on a laptop)"
        )
        bare = statistics.median(light["python -c pass"])
        for name, times in light.items():
            print(
                f"  {name:26s} {statistics.median(times) * 1000:7.1f} ms   (min {min(times) * 1000:.1f})"
                f"   {statistics.median(times) / bare:4.2f}x python -c pass"
            )
        print("  goal: drill today <= 2.50x python -c pass")

        if args.light_only:
            return
        grading(drill, env, args.check_runs)
        if args.bank:
            bank(drill, env)


def median_ms(times: list[float]) -> str:
    return f"{statistics.median(times) * 1000:7.0f} ms   (min {min(times) * 1000:.0f})"


def grading(drill: str, env: dict, runs: int) -> None:
    """The attention reference: warm check, first check with no grader, cold check, bare pytest."""
    reference = ROOT / "cards" / "llm" / "attention" / "reference.py"
    verify = ROOT / "cards" / "llm" / "attention" / "verify.py"
    check = [
        drill,
        "check",
        str(reference),
        "--card",
        "attention",
        "--json",
        "--no-record",
    ]
    cold_env = {**env, "DRILL_WARM": "0"}
    bare = [
        sys.executable, "-m", "pytest", "-q", "-p", "bare_plugin", "-p", "no:cacheprovider",
        # the same pytest options as drill's grading child
        "-p", "no:randomly", "--rootdir", str(verify.parent), "-c", os.devnull,
        "--tb=short", "-W", "ignore::DeprecationWarning", str(verify),
    ]  # fmt: skip
    bare_env = {
        **env,
        "BARE_IMPL": str(reference),
        "PYTHONPATH": str(ROOT / "bench"),
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    stop = [drill, "grader", "stop"]
    times: dict[str, list[float]] = {
        "warm check": [], "first check (no grader yet)": [], "cold check (DRILL_WARM=0)": [],
        "bare pytest, same verifier": [],
    }  # fmt: skip
    # each round runs every variant, so load changes hit all alike
    for _ in range(runs):
        subprocess.run(stop, env=env, check=True, stdout=subprocess.DEVNULL)
        times["first check (no grader yet)"] += time_command(check, env, 1, ok=(0,))
        times["warm check"] += time_command(check, env, 3, ok=(0,))
        times["cold check (DRILL_WARM=0)"] += time_command(check, cold_env, 1, ok=(0,))
        times["bare pytest, same verifier"] += time_command(bare, bare_env, 1, ok=(0,))
    print(
        f"\ngrading the attention reference: median of {runs} rounds (warm: 3 per round)"
    )
    for name, ts in times.items():
        print(f"  {name:30s} {median_ms(ts)}")
    warm = statistics.median(times["warm check"])
    cold = statistics.median(times["cold check (DRILL_WARM=0)"])
    first = statistics.median(times["first check (no grader yet)"])
    print(f"  warm is {cold / warm:.1f}x faster than cold (goal: <= 0.5 s, aim >= 8x)")
    print(f"  first check / cold check = {first / cold:.2f} (goal: <= 1.10)")
    watch_saves(drill, env, runs)
    subprocess.run(stop, env=env, check=True, stdout=subprocess.DEVNULL)


def watch_saves(drill: str, env: dict, saves: int) -> None:
    """`drill check --watch`: from writing the file to the verdict on the screen."""
    import queue
    import threading

    mutants = sorted((ROOT / "cards" / "llm" / "attention" / "mutants").glob("no_*.py"))
    mutants += sorted(
        (ROOT / "cards" / "llm" / "attention" / "mutants").glob("soft*.py")
    )
    with tempfile.TemporaryDirectory() as tmp:
        attempt = Path(tmp) / "attempt.py"
        attempt.write_text(mutants[0].read_text())
        watch = subprocess.Popen(
            [
                drill,
                "check",
                "--watch",
                str(attempt),
                "--card",
                "attention",
                "--no-record",
            ],
            env={**env, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines: queue.Queue = queue.Queue()
        threading.Thread(
            target=lambda: [lines.put(x) for x in watch.stdout], daemon=True
        ).start()

        def verdict_line(timeout=120):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    if lines.get(timeout=0.5).startswith(("FAIL", "PASS", "ERROR")):
                        return
                except queue.Empty:
                    pass
            raise SystemExit("watch mode gave no verdict")

        verdict_line()
        times = []
        for i in range(saves * 2):
            time.sleep(0.3)
            t = time.perf_counter()
            attempt.write_text(mutants[(i + 1) % len(mutants)].read_text())
            verdict_line()
            times.append(time.perf_counter() - t)
        watch.kill()
        watch.wait()
    print(f"  watch: save to verdict       {median_ms(times)}  ({len(times)} saves)")


def bank(drill: str, env: dict) -> None:
    """The whole bank's self-test, warm and cold, on this machine's cores: wall and CPU time."""
    import resource

    print(f"\nbank self-test, -j {os.cpu_count()} (this machine's cores)")
    for name, extra in (("warm", []), ("cold", ["--cold"])):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        out = subprocess.run(
            [drill, "cards", "check", *extra],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        verdicts = sum(
            line.startswith(("ok ", "PROBLEM ")) for line in out.stdout.splitlines()
        )
        state = "OK" if out.returncode == 0 else "PROBLEMS"
        print(
            f"  {name}: {wall:6.1f} s wall, {cpu:6.1f} CPU-s, {verdicts} verdicts, "
            f"{cpu / max(1, verdicts):.2f} CPU-s per verdict ({state})"
        )


if __name__ == "__main__":
    main()
