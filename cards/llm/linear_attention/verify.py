"""Verifier for linear attention: against the formula in float64, written the quadratic way
(A = phi(q) phi(k)ᵀ, lower-triangular when causal; out = A v / (A·1 + eps)), for both forms,
the default eps and a large one, float32/float16/bfloat16, gradients, and a test that watches
every operation's output shape (TorchDispatchMode) so that no N×N tensor is ever formed.

A failed comparison also names the known mistake the attempt reproduces (another feature map,
eps missing or added inside the sum, the prefix sum skipping key i, causal ignored, a causal
numerator over a non-causal normaliser, softmax attention...): each is computed from the formula
with that one thing changed, and named only when the attempt's output equals it."""

import math

import pytest
import torch
import torch.nn.functional as F

from cards.checks import (
    TensorWatch,
    assert_close,
    assert_close_diagnosed,
    assert_unchanged,
    call,
    randn,
)


def _qkv(B, H, N, D, Dv, seed, device, dtype=torch.float32):
    return (
        randn((B, H, N, D), seed, device, dtype),
        randn((B, H, N, D), seed + 100, device, dtype),
        randn((B, H, N, Dv), seed + 200, device, dtype),
    )


def _elu1(x):
    return F.elu(x) + 1


def _formula(
    q,
    k,
    v,
    is_causal,
    eps,
    phi=_elu1,
    num_mask="same",
    den_mask="same",
    eps_inside=False,
    normalise=True,
):
    """The linear-attention output in float64 on the CPU, with knobs for known mistakes:
    `phi` the feature map; `num_mask` / `den_mask` the (N, N) mask ("same": lower-triangular
    when causal, else none; "full", "tril", "strict" = j < i) of the numerator / normaliser;
    `eps_inside`: eps added to each entry of z; `normalise` False: no division."""
    q, k, v = (t.to("cpu", torch.float64) for t in (q, k, v))
    N = q.size(-2)
    A = phi(q) @ phi(k).transpose(-2, -1)  # (B, H, N, N)
    masks = {
        "full": torch.ones(N, N, dtype=torch.float64),
        "tril": torch.ones(N, N, dtype=torch.float64).tril(),
        "strict": torch.ones(N, N, dtype=torch.float64).tril(-1),
    }
    same = "tril" if is_causal else "full"
    An = A * masks[same if num_mask == "same" else num_mask]
    Ad = A * masks[same if den_mask == "same" else den_mask]
    num = An @ v
    if not normalise:
        return num
    den = Ad.sum(-1)
    if eps_inside:
        den = den + eps * phi(q).sum(-1)
    else:
        den = den + eps
    return num / den.unsqueeze(-1)


def _expected(q, k, v, is_causal, eps):
    out = _formula(q.detach(), k.detach(), v.detach(), is_causal, eps)
    return out.to(device=q.device, dtype=q.dtype)


def _softmax_attention(q, k, v, is_causal):
    q, k, v = (t.detach().to("cpu", torch.float64) for t in (q, k, v))
    s = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    if is_causal:
        N = q.size(-2)
        s = s.masked_fill(~torch.ones(N, N, dtype=torch.bool).tril(), float("-inf"))
    return torch.softmax(s, dim=-1) @ v


def _variants(q, k, v, is_causal, eps):
    """[(the mistake in the user's words, a callable computing its output)]."""

    q, k, v = q.detach(), k.detach(), v.detach()

    def run(**change):
        return lambda: _formula(q, k, v, is_causal, eps, **change)

    found = [
        (
            "the feature map is relu(x); it is phi(x) = elu(x) + 1",
            run(phi=F.relu),
        ),
        (
            "the feature map is elu(x) without the + 1; it is phi(x) = elu(x) + 1",
            run(phi=F.elu),
        ),
        (
            "the feature map is exp(x); it is phi(x) = elu(x) + 1",
            run(phi=torch.exp),
        ),
        (
            (
                "the queries were scaled by 1/sqrt(D) before the feature map; linear attention "
                "has no scale: phi(q) as it is"
            ),
            lambda: _formula(q / math.sqrt(q.size(-1)), k, v, is_causal, eps),
        ),
        (
            "there is no normaliser: divide phi(q_i) · S by phi(q_i) · z + eps",
            run(normalise=False),
        ),
        (
            "eps is missing from the normaliser: it is phi(q_i) · z + eps",
            lambda: _formula(q, k, v, is_causal, 0.0),
        ),
        (
            (
                "eps was added to every entry of z, phi(q_i) · (z + eps); it is added once to the "
                "scalar normaliser, phi(q_i) · z + eps"
            ),
            run(eps_inside=True),
        ),
        (
            (
                "softmax attention was computed; linear attention replaces the softmax by "
                "phi(q) · phi(k) with phi = elu + 1"
            ),
            lambda: _softmax_attention(q, k, v, is_causal),
        ),
    ]
    if is_causal:
        found += [
            (
                (
                    "the prefix sums skip key i (an exclusive cumsum, j < i): query i's sums run "
                    "over j <= i, key i included"
                ),
                run(num_mask="strict", den_mask="strict"),
            ),
            (
                (
                    "is_causal=True has no effect: the output is the non-causal one (sums over "
                    "every position)"
                ),
                run(num_mask="full", den_mask="full"),
            ),
            (
                (
                    "the numerator is causal but the normaliser sums z over the whole sequence: "
                    "z_i is a prefix sum too (j <= i)"
                ),
                run(den_mask="full"),
            ),
            (
                (
                    "the normaliser is causal but the numerator sums S over the whole sequence: "
                    "S_i is a prefix sum too (j <= i)"
                ),
                run(num_mask="full"),
            ),
        ]
    else:
        found.append(
            (
                "is_causal=False gave the causal output: sum S and z over every position",
                run(num_mask="tril", den_mask="tril"),
            )
        )
    return found


def _call(impl, q, k, v, **kwargs):
    """Calls the attempt and checks that it left its input tensors untouched."""
    before = [t.detach().clone() for t in (q, k, v)]
    out = call(impl.linear_attention, q, k, v, what="linear_attention", **kwargs)
    for name, b, t in zip(("query", "key", "value"), before, (q, k, v)):
        assert_unchanged(b, t, name)
    return out


def _check(out, q, k, v, is_causal, eps, context, atol=None, rtol=None):
    assert_close_diagnosed(
        out,
        _expected(q, k, v, is_causal, eps),
        lambda: _variants(q, k, v, is_causal, eps),
        atol=atol,
        rtol=rtol,
        context=context,
    )


# (B, H, N, D, Dv): Dv != D in most; N = 1 included.
SHAPES = [(2, 3, 10, 16, 12), (1, 2, 7, 8, 8), (2, 1, 1, 4, 6), (1, 1, 33, 5, 3)]


@pytest.mark.parametrize("is_causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_matches_formula(impl, device, shape, is_causal):
    q, k, v = _qkv(*shape, sum(shape), device)
    kwargs = {"is_causal": True} if is_causal else {}
    out = _call(impl, q, k, v, **kwargs)
    B, H, N, D, Dv = shape
    _check(
        out,
        q,
        k,
        v,
        is_causal,
        1e-6,
        context=f"query/key {(B, H, N, D)}, value {(B, H, N, Dv)}, is_causal={is_causal}",
    )


@pytest.mark.parametrize("is_causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("eps", [0.5, 5.0])
def test_eps_in_the_normaliser(impl, device, eps, is_causal):
    # A large eps next to phi(q) · z (a few units for short prefixes): its place shows.
    q, k, v = _qkv(2, 2, 6, 4, 5, 7, device)
    out = _call(impl, q, k, v, is_causal=is_causal, eps=eps)
    _check(
        out,
        q,
        k,
        v,
        is_causal,
        eps,
        context=f"eps={eps}, is_causal={is_causal}",
    )


@pytest.mark.parametrize("is_causal", [False, True], ids=["full", "causal"])
def test_never_forms_an_n_by_n_matrix(impl, device, is_causal):
    B, H, N, D, Dv = 1, 2, 128, 8, 4  # N² = 16384 > B·H·N·D·Dv = 8192
    q, k, v = _qkv(B, H, N, D, Dv, 9, device)
    watch = TensorWatch(
        lambda t: t.numel() >= N * N or sum(s >= N for s in t.shape) >= 2, impl.__file__
    )
    with torch.no_grad(), watch:
        out = _call(impl, q, k, v, is_causal=is_causal)
    if watch.found is not None:
        name, shape, line = watch.found
        where = f" on your line {line}" if line else ""
        form = "causal" if is_causal else "non-causal"
        how = (
            "prefix sums: cumsum over N of the outer products phi(k_j)ᵀ v_j and of phi(k_j)"
            if is_causal
            else "phi(k)ᵀ v (D × Dv) and the sum of phi(k) first, then contract with phi(q)"
        )
        raise AssertionError(
            f"the {form} form built an N×N-sized tensor{where}: `{name}` returned shape "
            f"{shape} with N={N} (at most B·H·N·D·Dv = {B * H * N * D * Dv} elements are "
            f"needed): linear attention never forms an N×N matrix (scores or mask); use {how}"
        )
    _check(out, q, k, v, is_causal, 1e-6, context=f"N={N}, is_causal={is_causal}")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_low_precision_keeps_dtype(impl, device, dtype):
    q, k, v = _qkv(2, 2, 12, 16, 8, 11, device, dtype)
    for is_causal in (False, True):
        _check(
            _call(impl, q, k, v, is_causal=is_causal),
            q,
            k,
            v,
            is_causal,
            1e-6,
            context=f"{dtype} inputs, is_causal={is_causal}",
        )


@pytest.mark.parametrize("is_causal", [False, True], ids=["full", "causal"])
def test_gradients_wrt_query_key_value(impl, device, is_causal):
    q, k, v = _qkv(2, 2, 9, 6, 5, 13, device)
    ours = [t.clone().requires_grad_() for t in (q, k, v)]
    ref = [t.detach().to("cpu", torch.float64).requires_grad_() for t in (q, k, v)]
    upstream = randn((2, 2, 9, 5), 14, device)
    out = impl.linear_attention(*ours, is_causal=is_causal)
    assert isinstance(out, torch.Tensor) and out.requires_grad, (
        "the output does not require grad: is it detached from query/key/value?"
    )
    (out * upstream).sum().backward()
    (_formula(*ref, is_causal, 1e-6) * upstream.cpu().double()).sum().backward()
    for name, t, r in zip(("query", "key", "value"), ours, ref):
        assert t.grad is not None, f"no gradient reached `{name}`"
        assert_close(
            t.grad,
            r.grad.to(device=device, dtype=torch.float32),
            what=f"gradient of {name}",
            atol=1e-4,
            rtol=1e-3,
            context=f"is_causal={is_causal}",
        )
