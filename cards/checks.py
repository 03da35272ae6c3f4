"""Shared helpers for verifiers: tolerances, comparisons with messages a person can act on,
input-mutation checks, weight copying, and the words naming the known mistake a failed
comparison matches. Imported by `verify.py` files only (needs torch)."""

from __future__ import annotations

import sys

import torch
from torch.utils._python_dispatch import TorchDispatchMode

# (atol, rtol) per dtype: loose enough for a straightforward computation in that dtype,
# tight enough that a wrong formula (missing scale, wrong axis, off-by-one mask) fails.
TOLERANCES = {
    torch.float64: (1e-9, 1e-7),
    torch.float32: (1e-5, 1e-4),
    torch.float16: (2e-3, 2e-2),
    torch.bfloat16: (1.6e-2, 4e-2),
}


def tolerance(dtype: torch.dtype) -> tuple[float, float]:
    return TOLERANCES[dtype]


def _shape(t) -> str:
    return "(" + ", ".join(str(s) for s in t.shape) + ")"


def assert_tensor(actual, what: str = "output") -> None:
    assert isinstance(actual, torch.Tensor), (
        f"{what}: expected a torch.Tensor, got {type(actual).__name__}"
    )


def assert_close(
    actual,
    expected: torch.Tensor,
    *,
    what: str = "output",
    atol: float | None = None,
    rtol: float | None = None,
    check_dtype: bool = True,
    context: str = "",
    dtype_rule: str = "keep the input's dtype",
) -> None:
    """Shape, dtype, device, finiteness, non-triviality, then values, each with its own message.
    `dtype_rule`: what the contract says of the output's dtype, shown when it is wrong."""
    ctx = f" [{context}]" if context else ""
    assert_tensor(actual, what + ctx)
    assert actual.shape == expected.shape, (
        f"{what}{ctx}: shape expected {_shape(expected)}, got {_shape(actual)}"
    )
    if check_dtype:
        assert actual.dtype == expected.dtype, (
            f"{what}{ctx}: dtype expected {expected.dtype}, got {actual.dtype} ({dtype_rule})"
        )
    assert actual.device.type == expected.device.type, (
        f"{what}{ctx}: device expected {expected.device.type}, got {actual.device.type}"
    )
    a = actual.detach().to("cpu", torch.float64)
    e = expected.detach().to("cpu", torch.float64)
    bad = ~torch.isfinite(a) & torch.isfinite(e)
    if bad.any():
        index = tuple(int(i) for i in bad.nonzero()[0])
        raise AssertionError(
            f"{what}{ctx}: got {a[index].item()} at index {index}, expected a finite value"
        )
    if a.numel() > 1 and e.numel() > 1 and (e - e.flatten()[0]).abs().max() > 1e-6:
        assert (a - a.flatten()[0]).abs().max() > 0, (
            f"{what}{ctx}: every value is {a.flatten()[0].item():.4g}; expected varying values"
        )
    default_atol, default_rtol = TOLERANCES.get(
        expected.dtype, TOLERANCES[torch.float32]
    )
    atol = default_atol if atol is None else atol
    rtol = default_rtol if rtol is None else rtol
    err = (a - e).abs()
    excess = err - (atol + rtol * e.abs())
    if excess.numel() and excess.max() > 0:
        index = tuple(int(i) for i in (excess == excess.max()).nonzero()[0])
        n_bad = int((excess > 0).sum())
        raise AssertionError(
            f"{what}{ctx}: {n_bad} of {a.numel()} values are wrong; worst at index {index}: "
            f"got {a[index].item():.6g}, expected {e[index].item():.6g} "
            f"(max abs error {err.max().item():.3g}, tolerance atol={atol:g} rtol={rtol:g})"
        )


def assert_float32_mean_loss(out, logits, context: str) -> None:
    """A language-model loss: one 0-dim float32 tensor, also for half-precision logits (as
    Hugging Face's loss); a loss left in the logits' half dtype is named."""
    if isinstance(out, torch.Tensor) and out.dtype != torch.float32:
        half = (
            logits.dtype in (torch.float16, torch.bfloat16)
            and out.dtype == logits.dtype
        )
        why = (
            f"\nlikely bug: the loss was computed in {logits.dtype}: upcast the logits to "
            "float32 first (logits.float()), as Hugging Face does"
            if half
            else ""
        )
        raise AssertionError(
            f"loss [{context}]: dtype expected torch.float32, got {out.dtype}{why}"
        )
    if isinstance(out, torch.Tensor) and out.shape != ():
        raise AssertionError(
            f"loss [{context}]: expected a 0-dim tensor (one mean over the batch), got shape "
            f"{tuple(out.shape)}"
        )


def assert_unchanged(before: torch.Tensor, after: torch.Tensor, name: str) -> None:
    """`before` is a clone taken before the call; catches in-place writes to an input."""
    same = before.shape == after.shape and torch.equal(
        before.to("cpu"), after.detach().to("cpu")
    )
    assert same, (
        f"input `{name}` was modified in place; leave the caller's tensors untouched"
    )


def copy_linear(
    dst: torch.nn.Linear, weight: torch.Tensor, bias: torch.Tensor | None = None
) -> None:
    """Load `weight` (and `bias`) into `dst`, checking the shape the contract promises."""
    assert isinstance(dst, torch.nn.Module), (
        f"expected an nn.Linear-like module, got {type(dst).__name__}"
    )
    assert tuple(dst.weight.shape) == tuple(weight.shape), (
        f"weight shape: expected {tuple(weight.shape)}, got {tuple(dst.weight.shape)}"
    )
    with torch.no_grad():
        dst.weight.copy_(weight)
        if bias is not None:
            assert getattr(dst, "bias", None) is not None, (
                "expected a bias on this projection"
            )
            dst.bias.copy_(bias)
        else:
            assert getattr(dst, "bias", None) is None, (
                "expected no bias on this projection (bias=False)"
            )


def generator(seed: int, device: str = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


# -- diagnosis: known mistakes, computed, named when the attempt's output equals one ---------------

# What computing a variant (or rerunning the attempt to explain a failure) may raise: that
# variant, or that explanation, is skipped.
DIAGNOSIS_ERRORS = (RuntimeError, TypeError, ValueError, IndexError, AttributeError)


def matches(actual, variant, atol: float, rtol: float) -> bool:
    """Same shape and every value within the tolerance of assert_close (nan/inf where equal)."""
    return actual.shape == variant.shape and bool(
        torch.isclose(actual, variant, rtol=rtol, atol=atol, equal_nan=True).all()
    )


def likely_bug(found) -> str:
    """The words appended to a failed comparison for the mistakes in `found` (none: "")."""
    if len(found) <= 1:
        return "".join(
            f"\nlikely bug (the values match this mistake): {why}" for why in found
        )
    return (
        "\nlikely bug, one of these (the values match each; this input cannot tell them "
        "apart):" + "".join(f"\n  - {why}" for why in found)
    )


def diagnose(actual, expected, variants, atol: float, rtol: float) -> str:
    """Words for a failed comparison: the known mistakes whose output (computed from the
    reference math) the attempt's output equals within the tolerance, compared in float64 on
    the CPU.

    `variants` is a dict {why: output} or an iterable of (why, output) pairs, an output being a
    tensor or a zero-argument callable computing one (called only here, in order; one that
    raises DIAGNOSIS_ERRORS is skipped). A `why` may come several times (one per form the
    mistake can take) and is named once. A variant that the expected output itself matches
    names nothing."""
    if not isinstance(actual, torch.Tensor) or actual.shape != expected.shape:
        return ""
    a = actual.detach().to("cpu", torch.float64)
    e = expected.detach().to("cpu", torch.float64)
    found = []
    for why, variant in variants.items() if isinstance(variants, dict) else variants:
        if why in found:
            continue
        try:
            v = variant() if callable(variant) else variant
            v = v.detach().to("cpu", torch.float64)
        except DIAGNOSIS_ERRORS:
            continue
        if not matches(e, v, atol, rtol) and matches(a, v, atol, rtol):
            found.append(why)
    return likely_bug(found)


FLOAT64_EXACT = (
    1e-10,
    1e-10,
)  # float64 math on well-scaled inputs; a float32 detour is ~1e-7


def assert_float64_math(actual, expected, what: str, context: str, loose=(1e-4, 1e-4)):
    """For a float64 input: fail, naming the mistake, when `actual` (float64) is right only to
    float32 precision (within `loose`, not within FLOAT64_EXACT): a .float() detour."""
    if not isinstance(actual, torch.Tensor) or actual.dtype != torch.float64:
        return
    got = actual.detach().cpu()
    want = expected.detach().cpu().to(torch.float64)
    if got.shape != want.shape or not torch.allclose(
        got, want, atol=loose[0], rtol=loose[1]
    ):
        return
    atol, rtol = FLOAT64_EXACT
    assert torch.allclose(got, want, atol=atol, rtol=rtol), (
        f"{what} [{context}]: right to float32 precision only (max abs error "
        f"{(got - want).abs().max().item():.2e}): the float64 input was computed in float32 "
        "(a .float() detour, cast back); float64 in means float64 math"
    )


def assert_close_diagnosed(
    actual, expected, variants, *, atol=None, rtol=None, **kwargs
) -> None:
    """assert_close (same keyword arguments); on failure, the diagnose() words for
    `variants()` (a callable, called only then) appended to its message. The variants are
    compared within the same tolerance: atol/rtol, or those of expected's dtype."""
    try:
        assert_close(actual, expected, atol=atol, rtol=rtol, **kwargs)
    except AssertionError as exc:
        # as assert_close
        default_atol, default_rtol = TOLERANCES.get(
            expected.dtype, TOLERANCES[torch.float32]
        )
        note = diagnose(
            actual,
            expected,
            variants(),
            default_atol if atol is None else atol,
            default_rtol if rtol is None else rtol,
        )
        if not note:
            raise
        raise AssertionError(str(exc) + note) from None


# -- the card kit: inputs, masks and calls every verifier needs --------------------------------


def randn(
    shape,
    seed: int,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    scale: float = 1.0,
) -> torch.Tensor:
    """Seeded normal values, drawn on the CPU (the same numbers on every device) and then
    moved, so a CPU run and a CUDA run of one test see the same input."""
    x = (
        torch.randn(tuple(shape), generator=generator(seed), dtype=torch.float64)
        * scale
    )
    return x.to(device=device, dtype=dtype)


def causal_mask(L: int, S: int | None = None, device: str = "cpu") -> torch.Tensor:
    """Bool (L, S), True where query i may see key j: j <= i. Aligned top-left, as SDPA's
    is_causal: query i sees keys 0..i whatever S is."""
    S = L if S is None else S
    return torch.ones(L, S, dtype=torch.bool, device=device).tril()


def sliding_window_mask(N: int, window: int, device: str = "cpu") -> torch.Tensor:
    """Bool (N, N), True where key j is visible to query i: i - window < j <= i."""
    i = torch.arange(N, device=device)[:, None]
    j = torch.arange(N, device=device)[None, :]
    return (j <= i) & (j > i - window)


def padding_mask(lengths, T: int, device: str = "cpu") -> torch.Tensor:
    """Bool (B, T), True on the first lengths[b] positions of each row (right padding)."""
    lengths = torch.as_tensor(lengths, device=device)
    return torch.arange(T, device=device)[None, :] < lengths[:, None]


def random_bool_mask(shape, seed: int, device: str = "cpu") -> torch.Tensor:
    """A seeded attention mask, True = may attend, about 60% True; every row keeps at least one
    True (a row with none is outside the attention contracts)."""
    mask = torch.rand(tuple(shape), generator=generator(seed)) < 0.6
    mask[..., 0] |= ~mask.any(-1)
    return mask.to(device)


def random_float_mask(
    shape, seed: int, device: str = "cpu", dtype=torch.float32, zeros: bool = False
) -> torch.Tensor:
    """A seeded additive bias on attention scores, with some -inf entries (never a whole row);
    `zeros`: some exact zeros too (a float mask used as a 0/1 keep-mask then differs from one
    that is ignored)."""
    g = generator(seed)
    mask = torch.randn(tuple(shape), generator=g) * 2
    blocked = torch.rand(tuple(shape), generator=g) < 0.3
    blocked[..., 0] = False
    if zeros:
        mask = mask.masked_fill(torch.rand(tuple(shape), generator=g) < 0.2, 0.0)
    return mask.masked_fill(blocked, float("-inf")).to(device=device, dtype=dtype)


def raised(exc, path) -> str:
    """The exception as the grader shows it: type, the attempt's line, message (for a Triton
    compiler error, the kernel's line and the compiler's reason)."""
    import traceback

    from drills.grading.triton_errors import describe

    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == path:
            line = frame.lineno
    where = f" (your line {line})" if line else ""
    return f"{type(exc).__name__}{where}: {describe(exc, path) or exc}"


def call(fn, *args, what: str | None = None, **kwargs):
    """Call the attempt's `fn`; a TypeError raised by the call itself (a signature that is not
    the contract's) becomes one line naming the call as the contract spells it."""
    name = what or getattr(fn, "__qualname__", getattr(fn, "__name__", repr(fn)))
    try:
        return fn(*args, **kwargs)
    except TypeError as exc:
        if exc.__traceback__ is not None and exc.__traceback__.tb_next is None:
            spelled = ", ".join(
                [type(a).__name__ for a in args] + [f"{k}=..." for k in kwargs]
            )
            raise AssertionError(
                f"{name}({spelled}) could not be called as the contract says: {exc}"
            ) from None
        raise


class QuietDispatchMode(TorchDispatchMode):
    """A TorchDispatchMode that does not import torch._dynamo when entered (which costs
    seconds per verdict): the base for watches of the ops an attempt runs."""

    @classmethod
    def _should_skip_dynamo(cls):
        return False


class TensorWatch(QuietDispatchMode):
    """Records the first op whose output `too_big(tensor)` flags, as (op name, shape, the line
    of the attempt's file `path` that ran it, or None): "never builds an N×N tensor" checks."""

    def __init__(self, too_big, path: str):
        super().__init__()
        self.too_big, self.path, self.found = too_big, path, None

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if self.found is None:
            for t in out if isinstance(out, (tuple, list)) else [out]:
                if isinstance(t, torch.Tensor) and self.too_big(t):
                    frame = sys._getframe(1)
                    while frame is not None and frame.f_code.co_filename != self.path:
                        frame = frame.f_back
                    line = frame.f_lineno if frame is not None else None
                    self.found = (str(func.overloadpacket), tuple(t.shape), line)
                    break
        return out
