"""The kernel cards' references beside torch, on a GPU, in one run.

Each figure is the median of `triton.testing.do_bench` (warm-up, then many runs, with the L2
cache flushed before each), for the reference kernel and for torch on the same inputs, after
checking that the two agree. Prints throughput (TFLOP/s or GB/s), the ratio to torch and the
issue's target where it set one.

Usage (on a machine with CUDA): python3 bench/kernels.py [--quick] [--sweep] [--variants]

--sweep also times the matmul and flash-attention references under other tile configurations
(their `_config` swapped out), each checked against torch first, to tune the references' choice.
--variants also times each experiment in bench/flash_variants/ (a module with the flash-attention
reference's API and its own `_config`) beside the reference, and sweeps its tiles with --sweep.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import sys
from pathlib import Path

CARDS = Path(__file__).resolve().parent.parent / "cards" / "gpu"
# Experiments: modules with the flash-attention reference's API, timed beside it (--variants).
VARIANTS = Path(__file__).resolve().parent / "flash_variants"


def load(path: Path):
    """The module at `path`, imported under a name of its own."""
    spec = importlib.util.spec_from_file_location(
        f"bench_{path.parent.name}_{path.stem}", path
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reference(slug: str):
    """A kernel card's reference module, or None when the card is not in the bank."""
    path = CARDS / slug / "reference.py"
    return load(path) if path.exists() else None


def bench(fn) -> float:
    """Median milliseconds of fn()."""
    from triton.testing import do_bench

    return do_bench(fn, warmup=50, rep=300, return_mode="median")


def row(name, size, unit, work, timings, target=""):
    """One printed line: each implementation's throughput (work per second / 1e12), and the
    reference's ratio to the next one's (torch's own kernel)."""
    rates = {label: work / (ms * 1e-3) / 1e12 for label, ms in timings.items()}
    ours = rates["reference"]
    cells = "  ".join(f"{label} {rate:8.1f}" for label, rate in rates.items())
    label, other = next(iter(list(rates.items())[1:]), (None, None))
    ratio = f"{ours / other:5.2f}x {label}" if other else ""
    print(f"{name:24s} {size:28s} {unit:8s} {cells}  {ratio}  {target}")


def sweep(ref, configs, run, expected, work) -> None:
    """Time `run` with each of `configs` returned by the reference's `_config`, after checking
    its output against `expected`; print the five fastest (TFLOP/s)."""
    import torch

    original, timed = ref._config, []
    try:
        for config in configs:
            ref._config = lambda *_, config=config: config
            try:
                torch.testing.assert_close(run(), expected, atol=0.5, rtol=2e-2)
                timed.append((work / (bench(run) * 1e-3) / 1e12, config))
            except Exception as exc:  # noqa: BLE001 - a config that fails is reported, skipped
                print(
                    f"    {config}: {type(exc).__name__}: {str(exc).splitlines()[0][:100]}"
                )
    finally:
        ref._config = original
    for rate, config in sorted(timed, reverse=True)[:5]:
        print(f"    {config}: {rate:7.1f} TFLOP/s")


def main() -> int:
    import torch
    import torch.nn.functional as F

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller shapes")
    parser.add_argument(
        "--sweep", action="store_true", help="time other tile configs too"
    )
    parser.add_argument(
        "--variants",
        action="store_true",
        help="time the flash-attention experiments in bench/flash_variants/ too",
    )
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("bench/kernels.py needs a CUDA GPU", file=sys.stderr)
        return 1
    import triton

    print(
        f"{torch.cuda.get_device_name()}, torch {torch.__version__}, triton {triton.__version__}"
    )
    torch.manual_seed(0)
    dev = "cuda"

    if (ref := reference("vector_add_triton")) is not None:
        n = 1 << (24 if args.quick else 28)
        x, y = (torch.randn(n, device=dev, dtype=torch.float32) for _ in range(2))
        assert torch.equal(ref.add(x, y), x + y)
        row(
            "vector_add_triton",
            f"fp32 n=2^{n.bit_length() - 1}",
            "TB/s",
            3 * n * 4,
            {"reference": bench(lambda: ref.add(x, y)), "torch": bench(lambda: x + y)},
        )

    if (ref := reference("softmax_triton")) is not None:
        rows, cols = (8192, 4096) if args.quick else (32768, 8192)
        x = torch.randn(rows, cols, device=dev, dtype=torch.float16)
        torch.testing.assert_close(ref.softmax(x), torch.softmax(x, -1))
        moved = 2 * x.numel() * x.element_size()
        row(
            "softmax_triton",
            f"fp16 {rows}x{cols}",
            "TB/s",
            moved,
            {
                "reference": bench(lambda: ref.softmax(x)),
                "torch": bench(lambda: torch.softmax(x, -1)),
                "copy": bench(lambda: torch.empty_like(x).copy_(x)),
            },
            "target >= 3.8 TB/s (copy ~4.25 on an H200)",
        )

    if (ref := reference("layernorm_triton")) is not None:
        rows, cols = (8192, 4096) if args.quick else (32768, 8192)
        x = torch.randn(rows, cols, device=dev, dtype=torch.float16)
        w = torch.randn(cols, device=dev, dtype=torch.float16)
        b = torch.randn(cols, device=dev, dtype=torch.float16)
        torch.testing.assert_close(
            ref.layer_norm(x, w, b),
            F.layer_norm(x, (cols,), w, b),
            atol=2e-2,
            rtol=1e-2,
        )
        row(
            "layernorm_triton",
            f"fp16 {rows}x{cols}",
            "TB/s",
            2 * x.numel() * x.element_size(),
            {
                "reference": bench(lambda: ref.layer_norm(x, w, b)),
                "torch": bench(lambda: F.layer_norm(x, (cols,), w, b)),
            },
        )

    if (ref := reference("matmul_triton")) is not None:
        n = 4096 if args.quick else 8192
        a = torch.randn(n, n, device=dev, dtype=torch.float16)
        b = torch.randn(n, n, device=dev, dtype=torch.float16)
        torch.testing.assert_close(ref.matmul(a, b), a @ b, atol=0.5, rtol=2e-2)
        row(
            "matmul_triton",
            f"fp16 {n}^3",
            "TFLOP/s",
            2 * n**3,
            {
                "reference": bench(lambda: ref.matmul(a, b)),
                "torch": bench(lambda: a @ b),
            },
            "target >= 0.9x torch.matmul",
        )
        if args.sweep:
            configs = [
                (bm, bn, bk, w, st)
                for bm, bn, bk, w in (
                    (128, 256, 64, 8),
                    (256, 128, 64, 8),
                    (128, 128, 64, 4),
                    (128, 128, 64, 8),
                    (128, 256, 32, 8),
                    (128, 128, 128, 8),
                )
                for st in (3, 4, 5)
            ]
            sweep(ref, configs, lambda: ref.matmul(a, b), a @ b, 2 * n**3)

    if (ref := reference("flash_attention_triton")) is not None:
        from torch.nn.attention import SDPBackend, sdpa_kernel

        B, H, N, D = (2, 16, 2048, 128) if args.quick else (4, 32, 4096, 128)
        variants = {}
        for path in sorted(VARIANTS.glob("*.py")) if args.variants else []:
            try:
                variants[path.stem] = load(path)
            except Exception as exc:  # noqa: BLE001 - an experiment this Triton lacks is skipped
                print(f"  variant {path.stem}: not loaded: {type(exc).__name__}: {exc}")
        q, k, v = (
            torch.randn(B, H, N, D, device=dev, dtype=torch.float16) for _ in range(3)
        )
        for causal in (False, True):
            sdpa = functools.partial(
                F.scaled_dot_product_attention, q, k, v, is_causal=causal
            )
            torch.testing.assert_close(
                ref.flash_attention(q, k, v, is_causal=causal),
                sdpa(),
                atol=2e-2,
                rtol=2e-2,
            )
            timings = {
                "reference": bench(
                    functools.partial(ref.flash_attention, q, k, v, is_causal=causal)
                )
            }
            for label, backend in (
                ("cudnn", SDPBackend.CUDNN_ATTENTION),
                ("sdpa-flash", SDPBackend.FLASH_ATTENTION),
            ):
                try:
                    with sdpa_kernel(backend):
                        sdpa()
                        timings[label] = bench(sdpa)
                except RuntimeError:
                    pass  # that backend is not available here
            flops = 4 * B * H * N * N * D // (2 if causal else 1)
            row(
                "flash_attention_triton",
                f"fp16 B{B} H{H} N{N} D{D}{' causal' if causal else ''}",
                "TFLOP/s",
                flops,
                timings,
                "" if causal else "target >= 500 TFLOP/s (cuDNN ~606, tutorial ~470)",
            )
            ref_ms = timings["reference"]
            for name, variant in variants.items():
                run = functools.partial(
                    variant.flash_attention, q, k, v, is_causal=causal
                )
                try:
                    torch.testing.assert_close(run(), sdpa(), atol=2e-2, rtol=2e-2)
                except Exception as exc:  # noqa: BLE001 - a failing experiment is reported
                    print(f"  variant {name}: {type(exc).__name__}: {str(exc)[:200]}")
                    continue
                row(
                    f"  variant {name}",
                    f"fp16 B{B} H{H} N{N} D{D}{' causal' if causal else ''}",
                    "TFLOP/s",
                    flops,
                    {"variant": bench(run), "reference": ref_ms},
                )
            if args.sweep and not causal:  # the target is non-causal's
                configs = [
                    (bm, bn, w, st)
                    for bm in (64, 128)
                    for bn in (32, 64, 128)
                    for w in (4, 8)
                    for st in (2, 3, 4)
                    if bm >= bn
                ]
                for name, module in {"reference": ref, **variants}.items():
                    print(f"  tile sweep, {name}:")
                    run = functools.partial(module.flash_attention, q, k, v)
                    # an experiment: the 128-row query blocks only (one device call's time)
                    tried = (
                        configs
                        if module is ref
                        else [c for c in configs if c[0] == 128]
                    )
                    sweep(module, tried, run, sdpa(), flops)
    return 0


if __name__ == "__main__":
    sys.exit(main())
