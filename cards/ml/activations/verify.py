"""Verifier for the activations: gelu (both modes), silu and leaky_relu against
torch.nn.functional's computed in float64 on the very same inputs, on random values and on a row
of extremes (±5 ... ±1e4, where hand-written exp-based sigmoid / tanh give inf/inf = NaN),
non-contiguous views, several slopes (0, above 1, negative), half precision and float64, and
through gradients. The input must come back untouched every time.

A failed comparison names the classic mistake the output matches, if any, each computed from
the formula with that one thing changed (erf without the 1/√2, the tanh mode ignored, the
x·sigmoid(1.702x) approximation, max(x, slope·x), the slope on the wrong side, ...), or the
naive way in the input's own precision (exp-based sigmoid and tanh)."""

import math

import pytest
import torch
import torch.nn.functional as F

from cards.checks import (
    assert_close,
    assert_close_diagnosed,
    assert_unchanged,
    call,
    generator,
    tolerance,
)

EXTREMES = [-1e4, -100.0, -30.0, -10.0, -5.0, -1.0, 1.0, 5.0, 10.0, 30.0, 100.0, 1e4]


def _x(seed, device, dtype=torch.float32, shape=(3, 12), extremes=True):
    """Seeded values of scale 3; with `extremes`, a last row of large and very negative ones."""
    x = torch.randn(shape, generator=generator(seed), dtype=torch.float64) * 3
    if extremes:
        x = torch.cat(
            [x.reshape(-1, shape[-1]), torch.tensor([EXTREMES])[:, : shape[-1]]]
        )
    return x.to(device=device, dtype=dtype)


FUNCTIONS = {"gelu": F.gelu, "silu": F.silu, "leaky_relu": F.leaky_relu}


def _ref(name, x, **kwargs):
    """torch's function in float64 on the CPU."""
    return FUNCTIONS[name](x.detach().to("cpu", torch.float64), **kwargs)


def _naive_sigmoid(v):
    e = v.exp()
    return e / (1 + e)


def _naive_tanh(v):
    e = (2 * v).exp()
    return (e - 1) / (e + 1)


def _gelu_variants(x, approximate):
    v = x.detach().to("cpu", torch.float64)
    low = x.detach().cpu()  # the input's own precision, for the overflow mistakes
    low = low if low.dtype != torch.float64 else low.float()
    c = math.sqrt(2 / math.pi)
    exact = 0.5 * v * (1 + torch.erf(v / math.sqrt(2)))
    tanh = 0.5 * v * (1 + torch.tanh(c * (v + 0.044715 * v**3)))
    found = []
    if approximate == "tanh":
        found.append(
            (
                (
                    "approximate='tanh' was ignored: the output is the exact erf GELU; use "
                    "½x(1 + tanh(√(2/π)(x + 0.044715x³))) when approximate='tanh'"
                ),
                exact,
            )
        )
        found.append(
            (
                "the 0.044715·x³ term is missing from the tanh approximation",
                0.5 * v * (1 + torch.tanh(c * v)),
            )
        )
        found.append(
            (
                (
                    "a tanh written from exp, (e^{2z} - 1) / (e^{2z} + 1), overflows to inf/inf = "
                    "NaN for large |x|; use torch.tanh"
                ),
                lambda: (
                    0.5 * low * (1 + _naive_tanh(c * (low + 0.044715 * low**3)))
                ).double(),
            )
        )
    else:
        found.append(
            (
                (
                    "approximate='none' computed the tanh approximation: the default is the exact "
                    "x·Φ(x) = ½x(1 + erf(x/√2))"
                ),
                tanh,
            )
        )
        found.append(
            (
                "erf(x) was used instead of erf(x / √2): Φ(x) = ½(1 + erf(x/√2))",
                0.5 * v * (1 + torch.erf(v)),
            )
        )
    found.append(
        (
            (
                "this is the x·sigmoid(1.702x) approximation, not GELU: use erf (or the tanh form "
                "for approximate='tanh')"
            ),
            v * torch.sigmoid(1.702 * v),
        )
    )
    found.append(("this is SiLU, x·sigmoid(x), not GELU", v * torch.sigmoid(v)))
    return found


def _silu_variants(x):
    v = x.detach().to("cpu", torch.float64)
    low = x.detach().cpu()
    low = low if low.dtype != torch.float64 else low.float()
    return [
        (
            (
                "a sigmoid written as exp(x) / (1 + exp(x)) overflows to inf/inf = NaN for large x; "
                "use torch.sigmoid (or 1 / (1 + exp(-x)))"
            ),
            lambda: (low * _naive_sigmoid(low)).double(),
        ),
        ("the output is sigmoid(x): SiLU multiplies it by x", torch.sigmoid(v)),
        (
            "this is GELU, not SiLU: silu(x) = x·sigmoid(x)",
            0.5 * v * (1 + torch.erf(v / math.sqrt(2))),
        ),
    ]


def _leaky_variants(x, slope, default):
    v = x.detach().to("cpu", torch.float64)
    found = [
        (
            (
                f"max(x, negative_slope·x) is only leaky ReLU for slopes up to 1 (here "
                f"{slope:g}): use torch.where(x > 0, x, negative_slope * x)"
            ),
            torch.maximum(v, slope * v),
        ),
        (
            (
                "the slope was applied to the positive side: x > 0 passes through unchanged, "
                "negative x is multiplied by negative_slope"
            ),
            torch.where(v > 0, slope * v, v),
        ),
        ("negative inputs became 0: that is ReLU, not leaky ReLU", v.clamp(min=0)),
    ]
    for other in (0.2, 0.1, 0.02, 0.0):
        if other != slope:
            why = f"the output matches negative_slope={other:g}, not {slope:g}" + (
                ": the default negative_slope is 0.01" if default else ""
            )
            found.append((why, torch.where(v > 0, v, other * v)))
    return found


def _run(impl, name, x, *args, **kwargs):
    before = x.detach().clone()
    out = call(getattr(impl, name), x, *args, what=name, **kwargs)
    assert_unchanged(before, x, "x")
    return out


def _check(out, expected, variants, x, context, what):
    tol_dtype = torch.float32 if x.dtype == torch.float64 else x.dtype
    atol, rtol = tolerance(tol_dtype)
    if x.dtype in (torch.float16, torch.bfloat16):  # erf / tanh of a rounded value: 2x
        atol, rtol = 2 * atol, 2 * rtol
    assert_close_diagnosed(
        out,
        expected.to(device=x.device, dtype=x.dtype),
        variants,
        what=what,
        atol=atol,
        rtol=rtol,
        context=context,
    )


def _inputs(device, dtype=torch.float32):
    base = _x(1, device, dtype)
    return [
        (base, "x (4, 12): random values and a row from -1e4 to 1e4"),
        (_x(2, device, dtype, shape=(2, 3, 5), extremes=False), "x (2, 3, 5)"),
        (
            _x(3, device, dtype, shape=(6, 4), extremes=False).t(),
            "a transposed (4, 6) view",
        ),
    ]


@pytest.mark.parametrize("approximate", [None, "none", "tanh"])
def test_gelu(impl, device, approximate):
    kwargs = {} if approximate is None else {"approximate": approximate}
    mode = approximate or "none"
    for x, what in _inputs(device):
        out = _run(impl, "gelu", x, **kwargs)
        _check(
            out,
            _ref("gelu", x, approximate=mode),
            lambda x=x: _gelu_variants(x, mode),
            x,
            what,
            f"gelu({'approximate=' + repr(approximate) if approximate else 'default'})",
        )


def test_silu(impl, device):
    for x, what in _inputs(device):
        out = _run(impl, "silu", x)
        _check(out, _ref("silu", x), lambda x=x: _silu_variants(x), x, what, "silu")


@pytest.mark.parametrize(
    "slope", [None, 0.2, 0.0, 1.5, -0.5], ids=["default", "0.2", "0", "1.5", "-0.5"]
)
def test_leaky_relu(impl, device, slope):
    value = 0.01 if slope is None else slope
    for i, (x, what) in enumerate(_inputs(device)):
        if slope is None:
            out = _run(impl, "leaky_relu", x)
        elif i == 1:  # positional once
            out = _run(impl, "leaky_relu", x, slope)
        else:
            out = _run(impl, "leaky_relu", x, negative_slope=slope)
        _check(
            out,
            _ref("leaky_relu", x, negative_slope=value),
            lambda x=x: _leaky_variants(x, value, slope is None),
            x,
            what,
            f"leaky_relu(negative_slope={value:g}{', the default' if slope is None else ''})",
        )


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_dtypes(impl, device, dtype):
    x = _x(4, device, dtype)
    if dtype == torch.float16:
        x = x.clamp(-6e4, 6e4)
    context = f"{dtype} x (4, 12), a row from -1e4 to 1e4"
    for mode in ("none", "tanh"):
        out = _run(impl, "gelu", x, approximate=mode)
        _check(
            out,
            _ref("gelu", x, approximate=mode),
            lambda mode=mode: _gelu_variants(x, mode),
            x,
            context,
            f"gelu(approximate={mode!r})",
        )
    _check(
        _run(impl, "silu", x),
        _ref("silu", x),
        lambda: _silu_variants(x),
        x,
        context,
        "silu",
    )
    out = _run(impl, "leaky_relu", x, negative_slope=0.2)
    _check(
        out,
        _ref("leaky_relu", x, negative_slope=0.2),
        lambda: _leaky_variants(x, 0.2, False),
        x,
        context,
        "leaky_relu(negative_slope=0.2)",
    )


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("gelu", {}),
        ("gelu", {"approximate": "tanh"}),
        ("silu", {}),
        ("leaky_relu", {"negative_slope": 0.3}),
    ],
    ids=["gelu", "gelu-tanh", "silu", "leaky_relu"],
)
def test_gradients(impl, device, name, kwargs):
    x = (torch.rand(5, 8, generator=generator(9), dtype=torch.float64) * 12 - 6).to(
        device=device, dtype=torch.float32
    )
    x.requires_grad_()
    out = _run(impl, name, x, **kwargs)
    assert isinstance(out, torch.Tensor) and out.requires_grad, (
        f"{name}: the output does not require grad: keep it on x's autograd graph (no "
        "detach(), no torch.no_grad())"
    )
    upstream = torch.randn(5, 8, generator=generator(10), dtype=torch.float64)
    (out * upstream.to(device=device, dtype=out.dtype)).sum().backward()
    assert x.grad is not None, f"{name}: no gradient reached x"
    x64 = x.detach().to("cpu", torch.float64).requires_grad_()
    (FUNCTIONS[name](x64, **kwargs) * upstream).sum().backward()
    assert_close(
        x.grad,
        x64.grad.to(device=device, dtype=torch.float32),
        what=f"gradient of {name}({kwargs or ''}) w.r.t. x",
        context="x uniform in [-6, 6]",
    )
