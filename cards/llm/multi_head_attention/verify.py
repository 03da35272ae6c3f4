"""Verifier for multi-head attention: against torch's nn.MultiheadAttention(batch_first=True) holding
the same weights, run in float64 (its bool mask is the opposite convention and its masks must be
2-D or (B * num_heads, L, S), so masks are translated for it).

A failed comparison also names the known mistakes (heads split or merged without the transpose,
scale by embed_dim, wrong projection, mask conventions...) whose output the attempt reproduces:
each is computed from the reference math with that one thing changed, and named only when the
attempt's output equals it."""

import math

import pytest
import torch
import torch.nn.functional as F

from cards.attention_diagnosis import (
    Masking,
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
    DIAGNOSIS_ERRORS,
    assert_close,
    assert_close_diagnosed,
    assert_unchanged,
    copy_linear,
    generator,
    matches,
    random_bool_mask,
    random_float_mask,
    tolerance,
)

PROJECTIONS = ("q_proj", "k_proj", "v_proj", "out_proj")


def _randn(shape, seed, device, dtype=torch.float32, std=1.0):
    return (torch.randn(shape, generator=generator(seed)) * std).to(
        device=device, dtype=dtype
    )


def _make(impl, embed_dim, num_heads, device, bias=True, dtype=torch.float32, seed=0):
    """The attempt's module with seeded weights; checks the four projections' names and shapes."""
    module = impl.MultiHeadAttention(embed_dim, num_heads, bias=bias)
    assert isinstance(module, torch.nn.Module), (
        "MultiHeadAttention must be an nn.Module"
    )
    g = generator(seed)
    for name in PROJECTIONS:
        proj = getattr(module, name, None)
        assert proj is not None, (
            f"missing sub-module `{name}` (an nn.Linear(embed_dim, embed_dim, bias))"
        )
        has_bias = getattr(proj, "bias", None) is not None
        assert has_bias == bias, (
            f"`{name}` {'has a' if has_bias else 'has no'} bias, but bias={bias} was passed: "
            "create every projection with nn.Linear(embed_dim, embed_dim, bias=bias)"
        )
        weight = torch.randn(embed_dim, embed_dim, generator=g) / embed_dim**0.5
        b = torch.randn(embed_dim, generator=g) * 0.5 if bias else None
        # checks the weight shape and that bias=... was honoured
        copy_linear(proj, weight, b)
    return module.to(device=device, dtype=dtype)


def _reference(module, embed_dim, num_heads, bias, device):
    """nn.MultiheadAttention in float64 with the attempt's (possibly low-precision) weights."""
    ref = torch.nn.MultiheadAttention(embed_dim, num_heads, bias=bias, batch_first=True)
    ref = ref.to(device=device, dtype=torch.float64)
    with torch.no_grad():
        ref.in_proj_weight.copy_(
            torch.cat([getattr(module, n).weight for n in PROJECTIONS[:3]])
        )
        ref.out_proj.weight.copy_(module.out_proj.weight)
        if bias:
            ref.in_proj_bias.copy_(
                torch.cat([getattr(module, n).bias for n in PROJECTIONS[:3]])
            )
            ref.out_proj.bias.copy_(module.out_proj.bias)
    return ref


def _reference_mask(attn_mask, is_causal, B, H, L, S, device):
    """Our mask in nn.MultiheadAttention's terms: bool True = blocked, shape (B * H, L, S)."""
    if is_causal:
        return ~torch.ones(L, S, dtype=torch.bool, device=device).tril()
    if attn_mask is None:
        return None
    mask = attn_mask.expand(B, H, L, S).reshape(B * H, L, S)
    return ~mask if mask.dtype == torch.bool else mask.double()


def _expected(ref, query, key, value, attn_mask=None, is_causal=False, num_heads=1):
    B, L, _ = query.shape
    S = key.size(1)
    mask = _reference_mask(attn_mask, is_causal, B, num_heads, L, S, query.device)
    out, _ = ref(
        query.double(), key.double(), value.double(), attn_mask=mask, need_weights=False
    )
    return out.to(query.dtype)


def _call(module, query, key, value, H=None, **kwargs):
    """Runs the attempt's forward and checks it left the inputs untouched; an error it raises
    gets the diagnosis of a rerun when one explains it (H: num_heads, for that rerun)."""
    inputs = {"query": query, "key": key, "value": value}
    if kwargs.get("attn_mask") is not None:
        inputs["attn_mask"] = kwargs["attn_mask"]
    before = {name: t.detach().clone() for name, t in inputs.items()}
    try:
        out = module(query, key, value, **kwargs)
    except RuntimeError as exc:
        if type(exc).__name__ == "BannedCallError":
            raise
        path = attempt_file(module)
        clones = (t.detach().clone() for t in (query, key, value))
        note = _retry_note(module, path, H, *clones, **kwargs)
        if not note:
            raise
        raise AssertionError(raised(exc, path) + note) from None
    for name, t in inputs.items():
        assert_unchanged(before[name], t, name)
    return out


# -- diagnosis: known mistakes, computed --------------------------------------------------------


def _mha64(
    W,
    query,
    key,
    value,
    H,
    roles=PROJECTIONS[:3],
    split=None,
    merge=None,
    scale=None,
    out_proj=True,
    **knobs,
):
    """Multi-head attention in float64 on the CPU with knobs for known mistakes: the projection
    used for each of query/key/value (`roles`), `split`/`merge` ("view" drops a transpose),
    `scale` (default 1/sqrt(head_dim)), `out_proj` (False: not applied) and attend's `knobs`
    (`blocked`, `fill`, `bias`, `bias_scaled`, `dim`, `after`)."""
    x = [t.detach().to("cpu", torch.float64) for t in (query, key, value)]
    q, k, v = (
        split_heads(F.linear(t, *W[name]), H, split) for t, name in zip(x, roles)
    )
    scale = 1.0 / math.sqrt(q.size(-1)) if scale is None else scale
    y = merge_heads(attend(q, k, v, scale, **knobs), merge)
    return F.linear(y, *W["out_proj"]) if out_proj else y


_ROLE_SWAPS = [
    ("values", "v_proj", "k_proj", (0, 1, 1)),
    ("values", "v_proj", "q_proj", (0, 1, 0)),
    ("keys", "k_proj", "q_proj", (0, 0, 2)),
    ("keys", "k_proj", "v_proj", (0, 2, 2)),
    ("queries", "q_proj", "k_proj", (1, 1, 2)),
]


def _variants(module, query, key, value, H, attn_mask=None, is_causal=False):
    """[(the mistake in the user's words, a callable computing its output)] for these inputs."""
    W = weights64(module, PROJECTIONS)
    L, S, E = query.size(1), key.size(1), query.size(2)
    masking = Masking(L, S, attn_mask, is_causal)

    def run(**change):
        args = {"blocked": masking.blocked, "bias": masking.bias, **change}
        return lambda: _mha64(W, query, key, value, H, **args)

    found = head_scale_variants(run, E) + [
        (
            (
                "the heads were split with a direct view to (B, num_heads, T, head_dim), "
                "without viewing as (B, T, num_heads, head_dim) and transposing: tokens and "
                "heads got mixed"
            ),
            run(split="view"),
        ),
        (
            (
                "the heads were merged without transposing back to (B, L, num_heads, "
                "head_dim): (B, num_heads, L, head_dim) was reshaped straight to (B, L, E)"
            ),
            run(merge="view"),
        ),
        (
            (
                "the heads were split and merged with direct views, without the transposes: "
                "each head mixes tokens; view as (B, T, num_heads, head_dim) and transpose(1, 2)"
            ),
            run(split="view", merge="view"),
        ),
        ("out_proj is not applied to the merged heads", run(out_proj=False)),
        (
            "the softmax runs over the heads axis (dim=1), not the key axis (dim=-1)",
            run(dim=1),
        ),
        (
            "the softmax runs over the query axis (dim=-2), not the key axis (dim=-1)",
            run(dim=-2),
        ),
    ]
    names = PROJECTIONS[:3]
    for role, right, wrong, pick in _ROLE_SWAPS:
        why = f"the {role} are projected with {wrong} instead of {right}"
        found.append((why, run(roles=tuple(names[i] for i in pick))))
    return found + masking.variants(
        run,
        bottom_right=(
            "the causal mask is aligned bottom-right (tril(diagonal=S - L)); is_causal here "
            "is top-left: query i sees keys 0..i"
        ),
        bool_inverted=(
            "the bool attn_mask is inverted: True marks the positions that may be attended "
            "to (F.scaled_dot_product_attention's convention, the opposite of "
            "nn.MultiheadAttention's)"
        ),
        bias_scaled=(
            "the float attn_mask is multiplied by the scale too: add it after scaling the "
            "scores"
        ),
    )


def _retry_note(module, path, H, query, key, value, **kwargs) -> str:
    """Why the attempt raised, found by rerunning it: tracing dtypes (float16/bfloat16), or
    (with is_causal) on the same data cut to L == S."""
    low = query.dtype in (torch.float16, torch.bfloat16)
    if low:
        note = dtype_mix_note(
            lambda: module(query, key, value, **kwargs),
            query.dtype,
            path,
            "create masks and constants in the inputs' dtype (dtype=query.dtype), or cast back",
        )
        if note:
            return note
    L, S = query.size(1), key.size(1)
    if kwargs.get("is_causal") and L != S:
        n = min(L, S)
        q, k, v = query[:, :n], key[:, :n], value[:, :n]
        try:
            out = module(q, k, v, **kwargs)
        except DIAGNOSIS_ERRORS:
            return ""
        if H is None or not isinstance(out, torch.Tensor):
            return ""
        atol, rtol = tolerance(query.dtype)
        ref = _reference(
            module, query.size(2), H, module.q_proj.bias is not None, "cpu"
        )
        expected = _expected(
            ref, q.cpu(), k.cpu(), v.cpu(), is_causal=True, num_heads=H
        )
        if matches(
            out.detach().to("cpu", torch.float64),
            expected.to(torch.float64),
            2 * atol if low else atol,
            rtol,
        ):
            return (
                f"\nlikely bug (checked by rerunning): is_causal=True works when L == S but "
                f"raised with L={L} != S={S}: the causal mask must be (L, S) = ({L}, {S}), "
                "query i seeing keys 0..i"
            )
    return ""


# (B, L, E, num_heads): odd sizes, head_dim 11, batch 1, a single head, many heads.
SELF_CASES = [(2, 7, 33, 3), (1, 5, 16, 4), (3, 6, 12, 1), (2, 9, 24, 8)]


@pytest.mark.parametrize("case", SELF_CASES, ids=lambda c: "B{}-L{}-E{}-H{}".format(*c))
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_self_attention_matches_torch(impl, device, case, bias):
    B, L, E, H = case
    module = _make(impl, E, H, device, bias=bias, seed=1)
    x = _randn((B, L, E), 2, device)
    out = _call(module, x, x, x)
    ref = _reference(module, E, H, bias, device)
    assert_close_diagnosed(
        out,
        _expected(ref, x, x, x, num_heads=H),
        lambda: _variants(module, x, x, x, H),
        context=f"self-attention, B={B} L={L} E={E} num_heads={H}, bias={bias}",
    )


@pytest.mark.parametrize(
    "B,L,S", [(2, 7, 13), (1, 9, 4), (3, 1, 6)], ids=lambda x: str(x)
)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_cross_attention_matches_torch(impl, device, B, L, S, bias):
    E, H = 33, 3
    module = _make(impl, E, H, device, bias=bias, seed=3)
    q, k, v = (
        _randn((B, L, E), 4, device),
        _randn((B, S, E), 5, device),
        _randn((B, S, E), 6, device),
    )
    out = _call(module, q, k, v)
    ref = _reference(module, E, H, bias, device)
    ctx = f"cross-attention, query (B={B}, L={L}, E={E}), key/value (S={S}), num_heads={H}, bias={bias}"
    assert_close_diagnosed(
        out,
        _expected(ref, q, k, v, num_heads=H),
        lambda: _variants(module, q, k, v, H),
        context=ctx,
    )


MASK_SHAPES = [(7, 11), (2, 1, 7, 11), (2, 1, 1, 11), (2, 3, 7, 11)]


@pytest.mark.parametrize("mask_shape", MASK_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("kind", ["bool", "float"])
def test_attn_mask(impl, device, mask_shape, kind):
    B, L, S, E, H = 2, 7, 11, 33, 3
    module = _make(impl, E, H, device, seed=7)
    q, k, v = (
        _randn((B, L, E), 8, device),
        _randn((B, S, E), 9, device),
        _randn((B, S, E), 10, device),
    )
    mask = (
        random_bool_mask(mask_shape, 11, device)
        if kind == "bool"
        else random_float_mask(mask_shape, 11, device)
    )
    out = _call(module, q, k, v, attn_mask=mask)
    ref = _reference(module, E, H, True, device)
    meaning = (
        "True = may attend" if kind == "bool" else "added to the scores, some -inf"
    )
    ctx = f"{kind} attn_mask {mask_shape} ({meaning}), B={B} L={L} S={S} num_heads={H}"
    assert_close_diagnosed(
        out,
        _expected(ref, q, k, v, attn_mask=mask, num_heads=H),
        lambda: _variants(module, q, k, v, H, attn_mask=mask),
        context=ctx,
    )


@pytest.mark.parametrize("L,S", [(6, 6), (4, 9), (9, 4)], ids=lambda x: str(x))
def test_is_causal(impl, device, L, S):
    B, E, H = 2, 33, 3
    module = _make(impl, E, H, device, seed=12)
    q = _randn((B, L, E), 13, device)
    k, v = (
        (q, q)
        if L == S
        else (_randn((B, S, E), 14, device), _randn((B, S, E), 15, device))
    )
    out = _call(module, q, k, v, H=H, is_causal=True)
    ref = _reference(module, E, H, True, device)
    ctx = f"is_causal=True, L={L}, S={S}: query i sees keys 0..i (top-left aligned)"
    assert_close_diagnosed(
        out,
        _expected(ref, q, k, v, is_causal=True, num_heads=H),
        lambda: _variants(module, q, k, v, H, is_causal=True),
        context=ctx,
    )


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_gradients_reach_every_projection(impl, device, bias):
    B, L, S, E, H = 2, 5, 7, 33, 3
    module = _make(impl, E, H, device, bias=bias, seed=16)
    ref = _reference(module, E, H, bias, device)
    q, k, v = (
        _randn((B, L, E), 17, device),
        _randn((B, S, E), 18, device),
        _randn((B, S, E), 19, device),
    )
    mask = random_float_mask((B, 1, L, S), 20, device)
    ours = [t.clone().requires_grad_() for t in (q, k, v)]
    theirs = [t.double().requires_grad_() for t in (q, k, v)]
    upstream = _randn((B, L, E), 21, device)
    out = module(*ours, attn_mask=mask)
    assert isinstance(out, torch.Tensor) and out.requires_grad, (
        "the output does not require grad: is it detached?"
    )
    (out * upstream).sum().backward()
    expected = ref(
        *theirs,
        attn_mask=_reference_mask(mask, False, B, H, L, S, device),
        need_weights=False,
    )[0]
    (expected * upstream.double()).sum().backward()
    tol = {"atol": 1e-4, "rtol": 1e-3}
    for i, name in enumerate(PROJECTIONS[:3]):
        proj = getattr(module, name)
        assert proj.weight.grad is not None, f"no gradient reached {name}.weight"
        assert_close(
            proj.weight.grad,
            ref.in_proj_weight.grad[i * E : (i + 1) * E].float(),
            what=f"gradient of {name}.weight",
            **tol,
        )
        if bias:
            assert proj.bias.grad is not None, f"no gradient reached {name}.bias"
            assert_close(
                proj.bias.grad,
                ref.in_proj_bias.grad[i * E : (i + 1) * E].float(),
                what=f"gradient of {name}.bias",
                **tol,
            )
    assert module.out_proj.weight.grad is not None, (
        "no gradient reached out_proj.weight"
    )
    assert_close(
        module.out_proj.weight.grad,
        ref.out_proj.weight.grad.float(),
        what="gradient of out_proj.weight",
        **tol,
    )
    if bias:
        assert_close(
            module.out_proj.bias.grad,
            ref.out_proj.bias.grad.float(),
            what="gradient of out_proj.bias",
            **tol,
        )
    for name, t, r in zip(("query", "key", "value"), ours, theirs):
        assert t.grad is not None, f"no gradient reached `{name}`"
        assert_close(t.grad, r.grad.float(), what=f"gradient of {name}", **tol)


# Four matmuls and a softmax, each rounded to the input dtype: twice the single-op atol of
# cards.checks, measured against straightforward implementations that compute in that dtype.
_LOW_PRECISION_TOL = {
    torch.float16: (2 * tolerance(torch.float16)[0], tolerance(torch.float16)[1]),
    torch.bfloat16: (2 * tolerance(torch.bfloat16)[0], tolerance(torch.bfloat16)[1]),
}


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_low_precision_keeps_dtype(impl, device, dtype):
    B, L, S, E, H = 2, 7, 10, 48, 4
    atol, rtol = _LOW_PRECISION_TOL[dtype]
    module = _make(impl, E, H, device, dtype=dtype, seed=22)
    ref = _reference(module, E, H, True, device)
    q, k, v = (
        _randn((B, T, E), seed, device, dtype)
        for T, seed in ((L, 23), (S, 24), (S, 25))
    )
    assert_close_diagnosed(
        _call(module, q, k, v, H=H),
        _expected(ref, q, k, v, num_heads=H),
        lambda: _variants(module, q, k, v, H),
        atol=atol,
        rtol=rtol,
        context=f"{dtype} module and inputs",
    )
    x = q
    out = _call(module, x, x, x, H=H, is_causal=True)
    assert_close_diagnosed(
        out,
        _expected(ref, x, x, x, is_causal=True, num_heads=H),
        lambda: _variants(module, x, x, x, H, is_causal=True),
        atol=atol,
        rtol=rtol,
        context=f"{dtype}, self-attention, is_causal",
    )
    mask = random_bool_mask((B, 1, L, S), 26, device)
    out = _call(module, q, k, v, H=H, attn_mask=mask)
    assert_close_diagnosed(
        out,
        _expected(ref, q, k, v, attn_mask=mask, num_heads=H),
        lambda: _variants(module, q, k, v, H, attn_mask=mask),
        atol=atol,
        rtol=rtol,
        context=f"{dtype}, bool mask",
    )
