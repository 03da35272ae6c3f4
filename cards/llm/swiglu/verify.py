"""Verifier for the SwiGLU feed-forward block: against transformers' LlamaMLP (built from a tiny
LlamaConfig with hidden_size=dim, intermediate_size=hidden_dim, mlp_bias=bias, hidden_act="silu",
nothing downloaded) run in float64 with the attempt's own weights copied into it.

The verifier loads seeded weights into the attempt's three layers first, so its initialisation
does not matter. On a failed comparison the message names the classic mistake the output
matches, if any (SiLU on the wrong branch or after the product, another activation, a branch
missing, a sum instead of the product, biases not applied), each computed in float64."""

import functools
import math
import warnings

import pytest
import torch
import torch.nn.functional as F

from cards.checks import (
    assert_close,
    assert_close_diagnosed,
    assert_unchanged,
    call,
    copy_linear,
    generator,
    tolerance,
)

NAMES = ("gate_proj", "up_proj", "down_proj")


@functools.cache
def _hf_mlp(dim: int, hidden_dim: int, bias: bool):
    """transformers' LlamaMLP for these sizes, float64 on the CPU (weights loaded per test)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from transformers.models.llama import modeling_llama as hf
    config = hf.LlamaConfig(
        vocab_size=32,
        hidden_size=dim,
        intermediate_size=hidden_dim,
        mlp_bias=bias,
        hidden_act="silu",
        num_hidden_layers=1,
        num_attention_heads=1,
        num_key_value_heads=1,
        head_dim=2,  # any dim: the attention part is never built
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=None,
    )
    return hf.LlamaMLP(config).to(torch.float64).eval()


def _shapes(dim, hidden_dim):
    return {
        "gate_proj": (hidden_dim, dim),
        "up_proj": (hidden_dim, dim),
        "down_proj": (dim, hidden_dim),
    }


def _check_layers(module, dim, hidden_dim, bias):
    where = f"SwiGLU({dim}, {hidden_dim}, bias={bias})"
    for name, shape in _shapes(dim, hidden_dim).items():
        layer = getattr(module, name, None)
        assert isinstance(layer, torch.nn.Module) and isinstance(
            getattr(layer, "weight", None), torch.Tensor
        ), f"{where}: expected an nn.Linear attribute `{name}`"
        got = tuple(layer.weight.shape)
        if got != shape:
            if got == shape[::-1]:
                fan_in, fan_out = shape[1], shape[0]
                raise AssertionError(
                    f"{where}: `{name}.weight` has shape {got}, the transpose of {shape}: "
                    f"{name} maps {fan_in} -> {fan_out} features, nn.Linear({fan_in}, {fan_out})"
                )
            raise AssertionError(
                f"{where}: `{name}.weight` expected shape {shape}, got {got}"
            )
        has_bias = getattr(layer, "bias", None) is not None
        assert has_bias == bias, (
            f"{where}: `{name}` {'has' if has_bias else 'has no'} bias; with bias={bias} "
            f"every projection is nn.Linear(..., bias={bias}) (LlamaMLP's mlp_bias)"
        )


def make(impl, dim, hidden_dim, device, dtype=torch.float32, bias=None, seed=0):
    """The attempt's module, its layers checked, then loaded with seeded weights."""
    if bias is None:  # the default
        module = call(impl.SwiGLU, dim, hidden_dim, what="SwiGLU")
        bias = False
    else:
        module = call(impl.SwiGLU, dim, hidden_dim, bias=bias, what="SwiGLU")
    _check_layers(module, dim, hidden_dim, bias)
    module = module.to(device=device, dtype=dtype)
    g = generator(seed)
    for name, (fan_out, fan_in) in _shapes(dim, hidden_dim).items():
        w = torch.randn(fan_out, fan_in, generator=g) * (1.2 / math.sqrt(fan_in))
        b = torch.randn(fan_out, generator=g) * 0.3 if bias else None
        copy_linear(getattr(module, name), w, b)
    return module


def _weights(module, requires_grad=False):
    """{name: (weight, bias or None)} the module really holds, float64 on the CPU."""

    def grab(t):
        if t is None:
            return None
        return t.detach().to("cpu", torch.float64).requires_grad_(requires_grad)

    return {
        n: (grab(getattr(module, n).weight), grab(getattr(module, n).bias))
        for n in NAMES
    }


def expected_swiglu(module, x, dim, hidden_dim, bias):
    """LlamaMLP with the module's weights, in float64, cast to x's dtype and device."""
    hf = _hf_mlp(dim, hidden_dim, bias)
    with torch.no_grad():
        for name, (w, b) in _weights(module).items():
            layer = getattr(hf, name)
            layer.weight.copy_(w)
            if b is not None:
                layer.bias.copy_(b)
        out = hf(x.detach().to("cpu", torch.float64))
    return out.to(device=x.device, dtype=x.dtype)


def _variants(module, x, upstream=None):
    """{a classic mistake in the user's terms: its output}, float64 on the CPU; with `upstream`,
    the gradient of sum(output * upstream) w.r.t. x instead."""
    w = _weights(module)
    x = x.detach().to("cpu", torch.float64).requires_grad_(upstream is not None)

    def lin(name, v, use_bias=True):
        weight, b = w[name]
        return F.linear(v, weight, b if use_bias else None)

    gate, up = lin("gate_proj", x), lin("up_proj", x)
    down = functools.partial(lin, "down_proj")
    found = [
        (
            (
                "the SiLU is on the up branch: it belongs on gate_proj's output, "
                "silu(gate_proj(x)) * up_proj(x)"
            ),
            down(gate * F.silu(up)),
        ),
        (
            (
                "the SiLU was applied after the product, silu(gate * up): apply it to "
                "gate_proj(x) alone, then multiply by up_proj(x)"
            ),
            down(F.silu(gate * up)),
        ),
        (
            "no activation: the gate branch needs silu(gate_proj(x))",
            down(gate * up),
        ),
        (
            "GELU instead of SiLU (that is GeGLU): SwiGLU gates with silu(z) = z * sigmoid(z)",
            down(F.gelu(gate) * up),
        ),
        (
            "GELU instead of SiLU (that is GeGLU): SwiGLU gates with silu(z) = z * sigmoid(z)",
            down(F.gelu(gate, approximate="tanh") * up),
        ),
        (
            (
                "a sigmoid gate, sigmoid(gate) * up (that is the original GLU): SwiGLU uses "
                "silu(z) = z * sigmoid(z)"
            ),
            down(torch.sigmoid(gate) * up),
        ),
        (
            "ReLU instead of SiLU (that is ReGLU): SwiGLU gates with silu(z) = z * sigmoid(z)",
            down(F.relu(gate) * up),
        ),
        (
            "the up branch is missing: multiply silu(gate_proj(x)) by up_proj(x)",
            down(F.silu(gate)),
        ),
        (
            "the branches were added, silu(gate) + up: SwiGLU multiplies them elementwise",
            down(F.silu(gate) + up),
        ),
    ]
    if w["down_proj"][1] is not None:
        found.append(
            (
                "the biases were not applied: with bias=True each projection adds its bias",
                F.linear(
                    F.silu(lin("gate_proj", x, False)) * lin("up_proj", x, False),
                    w["down_proj"][0],
                ),
            )
        )
    if upstream is None:
        return [(why, out.detach()) for why, out in found]
    up_grad = upstream.detach().to("cpu", torch.float64)

    def grad(out):
        return lambda: torch.autograd.grad((out * up_grad).sum(), x, retain_graph=True)[
            0
        ]

    return [(why, grad(out)) for why, out in found]


def _compare(out, expected, module, x, context, what="output", scale=1, upstream=None):
    atol, rtol = tolerance(expected.dtype)
    atol, rtol = atol * scale, rtol * scale
    assert_close_diagnosed(
        out,
        expected,
        lambda: _variants(module, x, upstream),
        what=what,
        atol=atol,
        rtol=rtol,
        context=context,
    )


# (input shape, hidden_dim): dim is the last dim of the input
CASES = [((2, 5, 24), 40), ((3, 16), 64), ((13,), 29), ((2, 2, 3, 10), 7)]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-h{c[1]}")
@pytest.mark.parametrize(
    "bias", [None, False, True], ids=["default", "no-bias", "bias"]
)
def test_matches_llama_mlp(impl, device, case, bias):
    shape, hidden = case
    dim = shape[-1]
    module = make(impl, dim, hidden, device, bias=bias, seed=hidden)
    x = torch.randn(shape, generator=generator(len(shape))).to(device)
    before = x.clone()
    out = module(x)
    assert_unchanged(before, x, "x")
    _compare(
        out,
        expected_swiglu(module, x, dim, hidden, bool(bias)),
        module,
        x,
        f"x of shape {shape}, SwiGLU({dim}, {hidden}, bias={bool(bias)})",
    )


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("bias", [False, True], ids=["no-bias", "bias"])
def test_low_precision_keeps_dtype(impl, device, dtype, bias):
    module = make(impl, 32, 48, device, dtype=dtype, bias=bias, seed=7)
    x = torch.randn(2, 6, 32, generator=generator(8)).to(device=device, dtype=dtype)
    # Three roundings in a row (projections, product, projection): 4x the elementwise tolerance.
    _compare(
        module(x),
        expected_swiglu(module, x, 32, 48, bias),
        module,
        x,
        f"{dtype} module and input",
        scale=4,
    )


@pytest.mark.parametrize("bias", [False, True], ids=["no-bias", "bias"])
def test_gradients_reach_input_and_every_weight(impl, device, bias):
    dim, hidden = 12, 20
    module = make(impl, dim, hidden, device, bias=bias, seed=9)
    x = torch.randn(2, 4, dim, generator=generator(10)).to(device).requires_grad_()
    upstream = torch.randn(2, 4, dim, generator=generator(11), dtype=torch.float64)
    (module(x) * upstream.to(device=device, dtype=x.dtype)).sum().backward()

    w = _weights(module, requires_grad=True)
    x64 = x.detach().to("cpu", torch.float64).requires_grad_()
    lin = lambda n, v: F.linear(v, *w[n])
    ref = lin("down_proj", F.silu(lin("gate_proj", x64)) * lin("up_proj", x64))
    (ref * upstream).sum().backward()

    tol = {"atol": 1e-4, "rtol": 1e-3}
    assert x.grad is not None, (
        "no gradient reached the input x: is the output detached?"
    )
    _compare(
        x.grad,
        x64.grad.to(device=device, dtype=x.dtype),
        module,
        x,
        "",
        what="gradient of x",
        scale=10,  # atol 1e-4, rtol 1e-3
        upstream=upstream,
    )
    for name in NAMES:
        layer = getattr(module, name)
        for part, got, want in (
            ("weight", layer.weight.grad, w[name][0].grad),
            (
                "bias",
                getattr(layer.bias, "grad", None),
                getattr(w[name][1], "grad", None),
            ),
        ):
            if want is None:
                continue
            assert got is not None, f"no gradient reached `{name}.{part}`"
            assert_close(
                got,
                want.to(device=device, dtype=got.dtype),
                what=f"gradient of {name}.{part}",
                **tol,
            )
