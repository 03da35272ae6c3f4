"""Verifier for grouped-query attention: against the same weights run through torch's
scaled_dot_product_attention(enable_gqa=True) in float64 (its GQA layout is Hugging Face
Llama's repeat_kv: query head h reads KV head h // (num_heads // num_kv_heads)).

A failed comparison also names the known mistakes (KV heads tiled, heads split without the
transpose, shifted causal mask, scale by embed_dim...) whose output the attempt reproduces: each
is computed from the reference math with that one thing changed, and named only when the
attempt's output equals it."""

import math

import pytest
import torch
import torch.nn.functional as F

from cards.attention_diagnosis import (
    attempt_file,
    attend,
    dtype_mix_note,
    head_scale_variants,
    merge_heads,
    raised,
    split_heads,
    weights64,
)
from cards.checks import (
    assert_close,
    assert_close_diagnosed,
    assert_unchanged,
    copy_linear,
    generator,
    tolerance,
)

PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj")

# (embed_dim, num_heads, num_kv_heads): GQA with head_dim 5, MHA, MQA, and groups of 3 with head_dim 3.
CONFIGS = [(30, 6, 2), (30, 6, 6), (30, 6, 1), (36, 12, 4)]
CONFIG_IDS = ["gqa-6q-2kv", "mha-6q-6kv", "mqa-6q-1kv", "gqa-12q-4kv"]
# (batch, sequence length) pairs tried for every configuration: batch 1 and odd lengths.
SHAPES = [(1, 7), (3, 13)]


def _proj_shapes(E, nh, nkv):
    kv = nkv * (E // nh)
    return {"q_proj": (E, E), "k_proj": (kv, E), "v_proj": (kv, E), "o_proj": (E, E)}


def _check_projections(module, E, nh, nkv, bias):
    for name, shape in _proj_shapes(E, nh, nkv).items():
        lin = getattr(module, name, None)
        assert isinstance(lin, torch.nn.Module) and isinstance(
            getattr(lin, "weight", None), torch.Tensor
        ), f"expected an nn.Linear attribute `{name}` on GroupedQueryAttention"
        what = (
            "(num_kv_heads * head_dim, embed_dim)"
            if name in ("k_proj", "v_proj")
            else "(embed_dim, embed_dim)"
        )
        got = tuple(lin.weight.shape)
        full = (
            f" (`{name}` is sized as in multi-head attention: in GQA it has "
            f"num_kv_heads * head_dim = {shape[0]} outputs, not embed_dim)"
            if name in ("k_proj", "v_proj") and got == (E, E) != shape
            else ""
        )
        assert got == shape, (
            f"`{name}.weight` with embed_dim={E}, num_heads={nh}, num_kv_heads={nkv}: expected shape "
            f"{shape} = {what}, got {got}{full}"
        )
        has_bias = getattr(lin, "bias", None) is not None
        assert has_bias == bias, (
            f"`{name}`: bias={bias} was asked for, but the projection "
            f"{'has' if has_bias else 'has no'} bias (`bias` applies to all four projections)"
        )


def _make(impl, E, nh, nkv, bias, device, dtype=torch.float32, seed=0):
    """The attempt's module with seeded weights (independent of its own initialisation)."""
    module = impl.GroupedQueryAttention(E, nh, nkv, bias=bias)
    _check_projections(module, E, nh, nkv, bias)
    module = module.to(device=device, dtype=dtype)
    g = generator(seed)
    for name, (out_f, in_f) in _proj_shapes(E, nh, nkv).items():
        weight = torch.randn(out_f, in_f, generator=g) * (1.5 / math.sqrt(in_f))
        b = torch.randn(out_f, generator=g) * 0.2 if bias else None
        copy_linear(getattr(module, name), weight, b)
    return module


def _params(module):
    """{name: (weight, bias)} copied to the CPU in float64 (the weights the module really holds)."""
    return weights64(module, PROJECTIONS)


def _expected(params, x, nh, nkv, is_causal):
    """Reference on float64 tensors with torch's SDPA; differentiable in x and params."""
    B, T, E = x.shape
    hs = E // nh
    q = F.linear(x, *params["q_proj"]).view(B, T, nh, hs).transpose(1, 2)
    k = F.linear(x, *params["k_proj"]).view(B, T, nkv, hs).transpose(1, 2)
    v = F.linear(x, *params["v_proj"]).view(B, T, nkv, hs).transpose(1, 2)
    y = F.scaled_dot_product_attention(q, k, v, is_causal=is_causal, enable_gqa=True)
    return F.linear(y.transpose(1, 2).reshape(B, T, E), *params["o_proj"])


def _x(B, T, E, seed, device, dtype=torch.float32):
    return torch.randn(B, T, E, generator=generator(seed)).to(
        device=device, dtype=dtype
    )


def _run_and_compare(
    module, x, nh, nkv, is_causal, context, atol=None, rtol=None, pass_flag=True
):
    before = x.clone()
    try:
        out = module(x, is_causal=is_causal) if pass_flag else module(x)
    except RuntimeError as exc:
        if type(exc).__name__ == "BannedCallError" or x.dtype not in (
            torch.float16,
            torch.bfloat16,
        ):
            raise
        path = attempt_file(module)
        kwargs = {"is_causal": is_causal} if pass_flag else {}
        note = dtype_mix_note(
            lambda: module(x.clone(), **kwargs),
            x.dtype,
            path,
            "create masks and constants in the input's dtype (dtype=x.dtype), or cast back",
        )
        if not note:
            raise
        raise AssertionError(raised(exc, path) + note) from None
    assert_unchanged(before, x, "x")
    x64 = x.detach().to("cpu", torch.float64)
    params = _params(module)
    expected = _expected(params, x64, nh, nkv, is_causal).to(
        device=x.device, dtype=x.dtype
    )
    assert_close_diagnosed(
        out,
        expected,
        lambda: _variants(params, x64, nh, nkv, is_causal),
        atol=atol,
        rtol=rtol,
        context=context,
    )


# -- diagnosis: known mistakes, computed --------------------------------------------------------


def _gqa64(
    params,
    x,
    nh,
    nkv,
    is_causal,
    split=None,
    merge=None,
    kv=None,
    scale=None,
    dim=-1,
    o_proj=True,
    **how,
):
    """GQA on float64 CPU tensors with knobs for known mistakes: `split`/`merge` ("view" drops
    a transpose), `kv` ("tile": .repeat() instead of repeat_interleave), `scale` (default
    1/sqrt(head_dim)), how["allowed"] (the (T, T) mask, True = may attend; None = no mask), the
    softmax axis `dim` and `o_proj` (False: not applied)."""
    T = x.shape[1]
    q, k, v = (
        split_heads(F.linear(x, *params[name]), n, split)
        for name, n in (("q_proj", nh), ("k_proj", nkv), ("v_proj", nkv))
    )
    group = nh // nkv
    if kv == "tile":
        k, v = k.repeat(1, group, 1, 1), v.repeat(1, group, 1, 1)
    else:
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
    scale = 1.0 / math.sqrt(q.size(-1)) if scale is None else scale
    causal = torch.ones(T, T, dtype=torch.bool).tril() if is_causal else None
    allowed = how.get("allowed", causal)
    blocked = None if allowed is None else ~allowed
    y = merge_heads(attend(q, k, v, scale, blocked, dim=dim), merge)
    return F.linear(y, *params["o_proj"]) if o_proj else y


def _variants(params, x, nh, nkv, is_causal):
    """[(the mistake in the user's words, a callable computing its output)] for these inputs
    (float64 CPU `params` and `x`)."""
    T, E = x.shape[1], x.shape[2]

    def tril(d):
        return torch.ones(T, T, dtype=torch.bool).tril(d)

    def run(**change):
        return lambda: _gqa64(params, x, nh, nkv, is_causal, **change)

    found = [
        (
            (
                "the KV heads are tiled: query head h reads KV head h % num_kv_heads (what "
                ".repeat() gives), not h // (num_heads // num_kv_heads); repeat each KV head "
                "in place (repeat_interleave on the heads dim)"
            ),
            run(kv="tile"),
        ),
        (
            (
                "the heads were split with a direct view to (B, heads, T, head_dim), "
                "without viewing as (B, T, heads, head_dim) and transposing (and merged back "
                "the same way): tokens and heads got mixed"
            ),
            run(split="view", merge="view"),
        ),
        (
            (
                "the heads were split with a direct view to (B, heads, T, head_dim), "
                "without viewing as (B, T, heads, head_dim) and transposing: tokens and heads "
                "got mixed"
            ),
            run(split="view"),
        ),
        (
            (
                "the heads were merged without transposing back to (B, T, num_heads, "
                "head_dim): (B, num_heads, T, head_dim) was reshaped straight to (B, T, E)"
            ),
            run(merge="view"),
        ),
        *head_scale_variants(run, E),
        ("o_proj is not applied to the merged heads", run(o_proj=False)),
        (
            "the softmax runs over the query axis (dim=-2), not the key axis (dim=-1)",
            run(dim=-2),
        ),
    ]
    if is_causal:
        found += [
            (
                (
                    "is_causal=True has no effect: the output matches attention without the "
                    "causal mask"
                ),
                run(allowed=None),
            ),
            (
                (
                    "the causal mask is shifted by one: position i also sees position i + 1 "
                    "(the next token)"
                ),
                run(allowed=tril(1)),
            ),
            (
                "the causal mask is shifted by one: position i does not see itself",
                run(allowed=tril(-1)),
            ),
            (
                "the causal mask is flipped: position i sees positions j >= i (the future)",
                run(allowed=~tril(-1)),
            ),
        ]
    else:
        found.append(
            (
                "a causal mask is applied although is_causal is False",
                run(allowed=tril(0)),
            )
        )
    return found


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_projection_shapes(impl, device, config, bias):
    E, nh, nkv = config
    _check_projections(
        impl.GroupedQueryAttention(E, nh, nkv, bias=bias), E, nh, nkv, bias
    )


def test_bias_defaults_to_false(impl, device):
    _check_projections(impl.GroupedQueryAttention(30, 6, 2), 30, 6, 2, bias=False)


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("is_causal", [False, True])
@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_matches_reference(impl, device, config, is_causal, bias):
    E, nh, nkv = config
    for seed, (B, T) in enumerate(SHAPES):
        module = _make(impl, E, nh, nkv, bias, device, seed=seed)
        x = _x(B, T, E, seed + 10, device)
        context = (
            f"embed_dim={E}, num_heads={nh}, num_kv_heads={nkv}, bias={bias}, "
            f"is_causal={is_causal}, x of shape ({B}, {T}, {E})"
        )
        _run_and_compare(module, x, nh, nkv, is_causal, context)


def test_is_causal_defaults_to_false(impl, device):
    module = _make(impl, 30, 6, 2, False, device, seed=3)
    x = _x(2, 9, 30, 13, device)
    _run_and_compare(
        module, x, 6, 2, False, "forward(x) without is_causal: no mask", pass_flag=False
    )


@pytest.mark.parametrize("is_causal", [False, True])
def test_single_token(impl, device, is_causal):
    module = _make(impl, 30, 6, 2, True, device, seed=4)
    x = _x(2, 1, 30, 14, device)
    _run_and_compare(module, x, 6, 2, is_causal, f"T=1, is_causal={is_causal}")


def test_query_heads_share_kv_heads_in_contiguous_groups(impl, device):
    # 4 query heads, 2 KV heads: heads 0, 1 must read KV head 0 and heads 2, 3 KV head 1.
    # KV head 1's values are zero and o_proj is the identity, so the output of a query head
    # is zero exactly when it reads KV head 1.
    E, nh, nkv, hs = 12, 4, 2, 3
    module = _make(impl, E, nh, nkv, False, device, seed=5)
    with torch.no_grad():
        module.v_proj.weight[hs:].zero_()
        module.o_proj.weight.copy_(torch.eye(E))
    x = _x(2, 5, E, 15, device)
    out = module(x, is_causal=False)
    assert isinstance(out, torch.Tensor) and out.shape == x.shape, (
        f"output: expected a tensor of shape {tuple(x.shape)}, got {getattr(out, 'shape', type(out).__name__)}"
    )
    heads = out.detach().to("cpu").view(2, 5, nh, hs)
    reads = [
        "KV head 1" if heads[:, :, h].abs().max() < 1e-6 else "KV head 0"
        for h in range(nh)
    ]
    want = ["KV head 0", "KV head 0", "KV head 1", "KV head 1"]
    tiled = (
        " The KV heads are tiled (0, 1, 0, 1), as .repeat() or .expand() on the wrong dim "
        "gives: repeat each KV head in place (repeat_interleave on the heads dim)."
        if reads == ["KV head 0", "KV head 1", "KV head 0", "KV head 1"]
        else ""
    )
    assert reads == want, (
        f"num_heads=4, num_kv_heads=2: query heads 0..3 should read {want} (query head h reads KV head "
        f"h // (num_heads // num_kv_heads), like repeat_interleave / HF repeat_kv), but they read {reads}."
        + tiled
    )


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_keeps_dtype(impl, device, dtype):
    module = _make(impl, 30, 6, 2, True, device, dtype=dtype, seed=6)
    x = _x(2, 9, 30, 16, device, dtype=dtype)
    atol, rtol = tolerance(dtype)
    # Several roundings in a row (projections, scores, softmax, output): 4x the elementwise tolerance.
    _run_and_compare(
        module,
        x,
        6,
        2,
        True,
        f"{dtype} module and input, is_causal=True",
        atol=4 * atol,
        rtol=4 * rtol,
    )


def test_gradients_match(impl, device):
    E, nh, nkv = 30, 6, 2
    module = _make(impl, E, nh, nkv, True, device, seed=7)
    x = _x(2, 7, E, 17, device).requires_grad_()
    upstream = torch.randn(2, 7, E, generator=generator(18))
    (module(x, is_causal=True) * upstream.to(device)).sum().backward()

    params = {
        n: tuple(t.clone().requires_grad_() for t in wb)
        for n, wb in _params(module).items()
    }
    x64 = x.detach().to("cpu", torch.float64).requires_grad_()
    (_expected(params, x64, nh, nkv, True) * upstream.double()).sum().backward()

    tol = {"atol": 1e-4, "rtol": 1e-3}
    assert x.grad is not None, (
        "no gradient reached the input x: is the output detached?"
    )
    assert_close(
        x.grad, x64.grad.to(device=device, dtype=x.dtype), what="gradient of x", **tol
    )
    for name in PROJECTIONS:
        lin = getattr(module, name)
        for part, ours, ref in (
            ("weight", lin.weight, params[name][0]),
            ("bias", lin.bias, params[name][1]),
        ):
            assert ours.grad is not None, f"no gradient reached `{name}.{part}`"
            assert_close(
                ours.grad,
                ref.grad.to(device=device, dtype=ours.dtype),
                what=f"gradient of {name}.{part}",
                **tol,
            )
