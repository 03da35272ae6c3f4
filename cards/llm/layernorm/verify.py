"""Verifier for LayerNorm: against torch's nn.LayerNorm run in float64 with the attempt's own
parameters copied in, for int and tuple shapes, without affine parameters or bias, in half
precision, and through its gradients.

On a failed comparison the message names the classic mistake the output matches, if any: each
is computed in float64 (unbiased variance, eps outside the square root, no centring, the last
dim only, weight or bias not applied, another eps, squares in half precision) and named only
when the output equals it within the test's tolerance while the right answer does not."""

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

DEFAULT_EPS = 1e-5


def _shape(normalized_shape) -> tuple[int, ...]:
    if isinstance(normalized_shape, int):
        return (normalized_shape,)
    return tuple(normalized_shape)


def _x(shape, seed, device, dtype=torch.float32, scale=3.0, offset=1.0):
    """Seeded input with a different mean per leading index, so that a missing centring shows."""
    g = generator(seed)
    x = torch.randn(shape, generator=g, dtype=torch.float64) * scale
    lead = shape[:1] + (1,) * (len(shape) - 1) if len(shape) > 1 else (1,)
    x = x + offset * scale * torch.randn(lead, generator=g, dtype=torch.float64)
    return x.to(device=device, dtype=dtype)


def _params(module):
    """(weight, bias) the module really holds (None where it holds none)."""
    return getattr(module, "weight", None), getattr(module, "bias", None)


def expected_layernorm(x, normalized_shape, eps, weight, bias):
    """torch's nn.LayerNorm in float64 with the given parameters, cast to x's dtype and device."""
    ns = _shape(normalized_shape)
    ref = torch.nn.LayerNorm(
        ns,
        eps=eps,
        elementwise_affine=weight is not None,
        bias=bias is not None,
        dtype=torch.float64,
    )
    with torch.no_grad():
        if weight is not None:
            ref.weight.copy_(weight.detach().cpu().double())
        if bias is not None:
            ref.bias.copy_(bias.detach().cpu().double())
    return ref(x.detach().cpu().double()).to(device=x.device, dtype=x.dtype)


def _variants(x, ns, eps, weight, bias, upstream=None, eps_matters=False):
    """{a classic mistake in the user's terms: the output it gives}, float64 on the CPU; with
    `upstream`, the gradient of sum(output * upstream) w.r.t. x instead."""
    dtype = x.dtype
    x = x.detach().to("cpu", torch.float64).requires_grad_(upstream is not None)
    w = None if weight is None else weight.detach().to("cpu", torch.float64)
    b = None if bias is None else bias.detach().to("cpu", torch.float64)
    k = len(ns)
    dims = tuple(range(-k, 0))

    def affine(y, use_w=True, use_b=True):
        if w is not None and use_w:
            y = y * w
        if b is not None and use_b:
            y = y + b
        return y

    def norm(v, d=dims, e=eps, correction=0, centre=True, eps_inside=True):
        mu = v.mean(d, keepdim=True) if centre else torch.zeros_like(v)
        c = v - mu
        n = math.prod(v.shape[i] for i in d)
        var = c.pow(2).sum(d, keepdim=True) / (n - correction)
        if eps_inside:
            return c / torch.sqrt(var + e)
        return c / (torch.sqrt(var) + e)

    found = {
        "the variance is the unbiased one (divided by n - 1, as torch.var / x.std() do by "
        "default): LayerNorm uses the biased variance, mean((x - mean)²), divided by n "
        "(unbiased=False / correction=0)": affine(norm(x, correction=1)),
        "eps was added outside the square root, (x - mean) / (sqrt(var) + eps): it belongs "
        "inside, (x - mean) / sqrt(var + eps)": affine(norm(x, eps_inside=False)),
        "the mean was not subtracted (that is RMSNorm): LayerNorm centres x, then divides by "
        "sqrt(mean((x - mean)²) + eps)": affine(
            x * torch.rsqrt(x.pow(2).mean(dims, keepdim=True) + eps)
        ),
    }
    if w is not None:
        found["`weight` was not applied: multiply the normalised x by weight"] = affine(
            norm(x), use_w=False
        )
    if b is not None:
        found["`bias` was not added: add bias after multiplying by weight"] = affine(
            norm(x), use_b=False
        )
    if k > 1:
        why = (
            f"the statistics were taken over the last dim only: normalized_shape={ns} "
            f"normalises the last {k} dims together (one mean and variance over all "
            f"{math.prod(ns)} values)"
        )
        found[why] = affine(norm(x, d=(-1,)))
    if x.dim() > k:
        why = (
            "the statistics were taken over every element of the input, not per leading "
            f"position: average over the last {k} dim(s) only"
        )
        found[why] = affine(norm(x, d=tuple(range(x.dim()))))
    if eps_matters:
        if eps != 0.0:
            why = "eps is missing: the output matches (x - mean) / sqrt(var), no eps"
            found[why] = affine(norm(x, e=0.0))
        for other in (1e-6, 1e-5, 1e-12):
            if other != eps:
                why = (
                    f"the output matches eps={other:g}, not eps={eps:g}: use the eps "
                    f"argument (default {DEFAULT_EPS:g})"
                )
                found[why] = affine(norm(x, e=other))
    if dtype in (torch.float16, torch.bfloat16):
        name = str(dtype).replace("torch.", "")
        c = x - x.mean(dims, keepdim=True)
        squares = c.detach().to(dtype).pow(2).double()  # inf beyond the dtype's max
        why = (
            f"the variance was computed in {name} and overflowed ((x - mean)² is inf beyond "
            f"{torch.finfo(dtype).max:g}): compute the statistics in float32"
        )
        found[why] = affine(c * torch.rsqrt(squares.mean(dims, keepdim=True) + eps))
    if upstream is None:
        return {why: out.detach() for why, out in found.items()}
    up = upstream.detach().to("cpu", torch.float64)
    return {
        why: torch.autograd.grad((out * up).sum(), x)[0] for why, out in found.items()
    }


def _compare(out, expected, x, ns, eps, module, context, what="output", **kwargs):
    atol, rtol = tolerance(expected.dtype)
    atol, rtol = kwargs.get("atol", atol), kwargs.get("rtol", rtol)
    weight, bias = _params(module)
    assert_close_diagnosed(
        out,
        expected,
        lambda: _variants(
            x,
            ns,
            eps,
            weight,
            bias,
            kwargs.get("upstream"),
            kwargs.get("eps_matters", False),
        ),
        what=what,
        atol=atol,
        rtol=rtol,
        context=context,
    )


def _check_parameters(module, ns, affine, bias):
    """The parameters nn.LayerNorm would have: weight (ones) and bias (zeros) of shape ns."""
    args = f"LayerNorm({ns}, elementwise_affine={affine}, bias={bias})"
    params = dict(module.named_parameters())
    if not affine:
        assert not params, (
            f"{args}: elementwise_affine=False means no learnable parameters (weight and bias "
            f"are None, as in nn.LayerNorm), got {sorted(params)}"
        )
        return
    weight, b = _params(module)
    assert isinstance(weight, torch.nn.Parameter), (
        f"{args}: needs a learnable nn.Parameter named `weight`"
    )
    assert tuple(weight.shape) == ns, (
        f"{args}: weight shape expected {ns} (normalized_shape), got {tuple(weight.shape)}"
    )
    assert torch.all(weight == 1), f"{args}: weight must be initialised to ones"
    if not bias:
        assert b is None and set(params) == {"weight"}, (
            f"{args}: bias=False means no bias parameter (`self.bias` is None, as in "
            f"nn.LayerNorm), got parameters {sorted(params)}"
        )
        return
    assert isinstance(b, torch.nn.Parameter), (
        f"{args}: needs a learnable nn.Parameter named `bias`"
    )
    assert tuple(b.shape) == ns, (
        f"{args}: bias shape expected {ns} (normalized_shape), got {tuple(b.shape)}"
    )
    assert torch.all(b == 0), f"{args}: bias must be initialised to zeros"


def make(impl, normalized_shape, device, dtype=torch.float32, seed=0, **kwargs):
    """The attempt's module, its parameters checked, then set to seeded non-trivial values."""
    module = call(impl.LayerNorm, normalized_shape, **kwargs, what="LayerNorm")
    ns = _shape(normalized_shape)
    affine = kwargs.get("elementwise_affine", True)
    _check_parameters(module, ns, affine, kwargs.get("bias", True))
    module = module.to(device=device, dtype=dtype)
    weight, bias = _params(module)
    g = generator(100 + seed)
    with torch.no_grad():  # non-trivial values, so ignoring either one shows
        if weight is not None:
            weight.copy_(torch.rand(ns, generator=g) + 0.5)
        if bias is not None:
            bias.copy_(torch.randn(ns, generator=g) * 0.5)
    return module


# (input shape, normalized_shape as the test passes it)
CASES = [
    ((2, 5, 16), 16),
    ((3, 8), (8,)),
    ((2, 3, 4, 6), (4, 6)),
    ((2, 3, 5), [3, 5]),
    ((7,), 7),
    ((2, 2, 3, 4), (2, 3, 4)),
]
OPTIONS = [
    {},
    {"elementwise_affine": False},
    {"bias": False},
]
OPTION_IDS = ["affine", "no-affine", "no-bias"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[1]}")
@pytest.mark.parametrize("options", OPTIONS, ids=OPTION_IDS)
def test_matches_torch_layernorm(impl, device, case, options):
    shape, ns = case
    x = _x(shape, len(shape) + 7 * len(options), device)
    module = make(impl, ns, device, seed=len(shape), **options)
    before = x.clone()
    out = module(x)
    assert_unchanged(before, x, "x")
    weight, bias = _params(module)
    _compare(
        out,
        expected_layernorm(x, ns, DEFAULT_EPS, weight, bias),
        x,
        _shape(ns),
        DEFAULT_EPS,
        module,
        f"x of shape {shape}, LayerNorm({ns!r}, **{options})",
    )


def test_float64_keeps_dtype(impl, device):
    # Statistics computed in float32 are fine here: the float32 tolerance, float64 dtype.
    atol, rtol = tolerance(torch.float32)
    x = _x((3, 4, 10), 11, device, dtype=torch.float64)
    module = make(impl, (4, 10), device, dtype=torch.float64, seed=11)
    weight, bias = _params(module)
    _compare(
        module(x),
        expected_layernorm(x, (4, 10), DEFAULT_EPS, weight, bias),
        x,
        (4, 10),
        DEFAULT_EPS,
        module,
        "float64 module and input",
        atol=atol,
        rtol=rtol,
    )


@pytest.mark.parametrize("eps", [1e-5, 0.1, 1.0])
def test_eps_with_small_inputs(impl, device, eps):
    module = make(impl, 16, device, eps=eps, seed=3)
    weight, bias = _params(module)
    # First where eps is negligible (inside or outside the square root): a failure there is
    # not about eps, and says so.
    scale = max(3.0, 1e6 * eps)
    large = _x((3, 16), 12, device, scale=scale)
    _compare(
        module(large),
        expected_layernorm(large, 16, eps, weight, bias),
        large,
        (16,),
        eps,
        module,
        f"eps={eps}, |x| ~ {scale:g} where eps is negligible: the output is wrong before "
        "eps matters",
    )
    # Small inputs make eps matter: (x - m) / sqrt(var + eps) differs from / (sqrt(var) + eps).
    x = _x((3, 16), 13, device, scale=1e-3 if eps == DEFAULT_EPS else 0.05)
    _compare(
        module(x),
        expected_layernorm(x, 16, eps, weight, bias),
        x,
        (16,),
        eps,
        module,
        f"eps={eps}, small |x| where eps matters",
        eps_matters=True,
    )


def test_default_eps_is_1e_5(impl, device):
    x = _x((2, 8), 14, device, scale=2e-3)
    module = make(impl, 8, device, seed=4)
    weight, bias = _params(module)
    _compare(
        module(x),
        expected_layernorm(x, 8, DEFAULT_EPS, weight, bias),
        x,
        (8,),
        DEFAULT_EPS,
        module,
        "default eps, |x| ~ 2e-3",
        eps_matters=True,
    )


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize(
    "case", [((3, 48), 48), ((3, 4, 12), (4, 12))], ids=["int", "tuple"]
)
def test_low_precision_keeps_dtype_and_does_not_overflow(impl, device, dtype, case):
    # |x - mean| up to ~1500: its square overflows float16 unless the statistics are in float32.
    shape, ns = case
    x = _x(shape, 15, device, dtype=dtype, scale=400.0, offset=0.1)
    module = make(impl, ns, device, dtype=dtype, seed=5)
    weight, bias = _params(module)
    _compare(
        module(x),
        expected_layernorm(x, ns, DEFAULT_EPS, weight, bias),
        x,
        _shape(ns),
        DEFAULT_EPS,
        module,
        f"{dtype} module and input, |x| ~ 400",
    )


@pytest.mark.parametrize(
    "case", [((2, 3, 16), 16), ((2, 3, 4, 4), (4, 4))], ids=["int", "tuple"]
)
def test_gradients_reach_input_weight_and_bias(impl, device, case):
    shape, ns = case
    x = _x(shape, 16, device).requires_grad_()
    module = make(impl, ns, device, seed=6)
    weight, bias = _params(module)
    ref_x = x.detach().cpu().double().requires_grad_()
    ref_w = weight.detach().cpu().double().requires_grad_()
    ref_b = bias.detach().cpu().double().requires_grad_()
    upstream = torch.randn(shape, generator=generator(17), dtype=torch.float64)
    (module(x) * upstream.to(device=device, dtype=x.dtype)).sum().backward()
    ref = F.layer_norm(ref_x, _shape(ns), ref_w, ref_b, DEFAULT_EPS)  # differentiable
    (ref * upstream).sum().backward()
    assert x.grad is not None, "no gradient reached the input: is the output detached?"
    assert weight.grad is not None, (
        "no gradient reached `weight`: is the weight applied to the output?"
    )
    assert bias.grad is not None, "no gradient reached `bias`: is the bias added?"
    tol = {"atol": 1e-4, "rtol": 1e-3}
    _compare(
        x.grad,
        ref_x.grad.to(device=device, dtype=x.dtype),
        x,
        _shape(ns),
        DEFAULT_EPS,
        module,
        "",
        what="gradient of x",
        upstream=upstream,
        **tol,
    )
    for name, got, want in (
        ("weight", weight.grad, ref_w.grad),
        ("bias", bias.grad, ref_b.grad),
    ):
        assert_close(
            got,
            want.to(device=device, dtype=got.dtype),
            what=f"gradient of {name}",
            **tol,
        )
