"""Verifier for sliding-window attention: against torch's F.scaled_dot_product_attention run in
float64 with the explicit window mask (cards.checks.sliding_window_mask: key j visible to query i
iff i - window < j <= i), for windows from 1 to past N, in float32, float16 and bfloat16, with
gradients.

A failed comparison also names the known mistake the attempt reproduces (a window one key too
wide or too narrow, a window that looks ahead or both ways, the window ignored, a wrong scale,
the softmax axis...): each is computed from the same math with that one thing changed, and named
only when the attempt's output equals it while the right answer does not."""

import math

import pytest
import torch
import torch.nn.functional as F

from cards.attention_diagnosis import AFTER_SOFTMAX, attend
from cards.checks import (
    assert_close,
    assert_close_diagnosed,
    assert_unchanged,
    call,
    randn,
    sliding_window_mask,
    tolerance,
)


def _qkv(B, H, N, D, Dv, seed, device, dtype=torch.float32, scale=1.0):
    return (
        randn((B, H, N, D), seed, device, dtype, scale),
        randn((B, H, N, D), seed + 100, device, dtype, scale),
        randn((B, H, N, Dv), seed + 200, device, dtype),
    )


def _expected(q, k, v, window):
    """torch's own SDPA with the window mask, in float64, returned in the query's dtype."""
    mask = sliding_window_mask(q.size(-2), window, device=q.device)
    out = F.scaled_dot_product_attention(
        q.double(), k.double(), v.double(), attn_mask=mask
    )
    return out.to(q.dtype)


def _variants(q, k, v, window):
    """[(the mistake in the user's words, a callable computing its output)], float64 on the CPU."""
    N, D, Dv = q.size(-2), q.size(-1), v.size(-1)
    i = torch.arange(N)[:, None]
    j = torch.arange(N)[None, :]
    right = (j <= i) & (j > i - window)
    q64, k64, v64 = (t.detach().to("cpu", torch.float64) for t in (q, k, v))

    def run(visible=right, **change):
        args = {"scale": 1.0 / math.sqrt(D), "blocked": ~visible, **change}
        return lambda: attend(q64, k64, v64, **args)

    return [
        (
            (
                f"the window is one key too wide: query i sees keys i - window .. i ({window + 1} "
                f"keys); key j is visible iff i - window < j <= i (strict on the left)"
            ),
            run((j <= i) & (j >= i - window)),
        ),
        (
            (
                f"the window is one key too narrow: query i sees only {window - 1} keys; key j is "
                "visible iff i - window < j <= i, which is `window` keys, i itself included"
            ),
            run((j <= i) & (j > i - window + 1)),
        ),
        (
            (
                "the attention is not causal: the window reaches both ways (|i - j| < window); "
                "query i must never see a later key j > i"
            ),
            run((i - j).abs() < window),
        ),
        (
            "the window looks ahead (i <= j < i + window): it must look back, i - window < j <= i",
            run((j >= i) & (j < i + window)),
        ),
        (
            (
                "the window is ignored: the output is plain causal attention (every key j <= i); "
                "also block keys j <= i - window"
            ),
            run(j <= i),
        ),
        (
            "neither causal nor windowed: the output is full attention over every key",
            run(torch.ones(N, N, dtype=torch.bool)),
        ),
        ("the scores are not scaled: multiply them by 1/sqrt(D)", run(scale=1.0)),
        ("the scores are scaled by 1/D, not 1/sqrt(D)", run(scale=1.0 / D)),
        (
            "the scale uses the value's last dim Dv; it is 1/sqrt(D), D the last dim of query",
            run(scale=1.0 / math.sqrt(Dv)),
        ),
        (
            "the scores are multiplied by sqrt(D); divide them by it",
            run(scale=math.sqrt(D)),
        ),
        (
            "the softmax runs over the query axis (dim=-2), not the key axis (dim=-1)",
            run(dim=-2),
        ),
        (
            (
                "blocked positions get a score of 0 instead of -inf, so they still get weight "
                "exp(0) after the softmax"
            ),
            run(fill=0.0),
        ),
        (AFTER_SOFTMAX, run(blocked=None, after=right.double())),
    ]


def _check(out, q, k, v, window, context, atol=None, rtol=None):
    assert_close_diagnosed(
        out,
        _expected(q, k, v, window),
        lambda: _variants(q, k, v, window),
        atol=atol,
        rtol=rtol,
        context=context,
    )


def _call(impl, q, k, v, window):
    """Calls the attempt and checks that it left its input tensors untouched."""
    before = [t.detach().clone() for t in (q, k, v)]
    out = call(
        impl.sliding_window_attention,
        q,
        k,
        v,
        window,
        what="sliding_window_attention",
    )
    for name, b, t in zip(("query", "key", "value"), before, (q, k, v)):
        assert_unchanged(b, t, name)
    return out


# (B, H, N, D, Dv, window): windows 1, small, N - 1, N and past N; D != Dv in most.
CASES = [
    (2, 3, 9, 16, 12, 3),
    (2, 3, 9, 16, 12, 1),
    (2, 3, 9, 16, 12, 2),
    (1, 2, 9, 16, 12, 8),
    (1, 2, 9, 16, 12, 9),
    (1, 2, 9, 16, 12, 20),
    (2, 1, 17, 8, 8, 5),
    (1, 4, 1, 8, 4, 3),
]


@pytest.mark.parametrize(
    "case", CASES, ids=lambda c: f"N{c[2]}-window{c[5]}-D{c[3]}-Dv{c[4]}"
)
def test_matches_sdpa_with_window_mask(impl, device, case):
    B, H, N, D, Dv, window = case
    q, k, v = _qkv(B, H, N, D, Dv, sum(case), device, scale=1.5)
    out = _call(impl, q, k, v, window)
    _check(
        out,
        q,
        k,
        v,
        window,
        context=f"query/key {(B, H, N, D)}, value {(B, H, N, Dv)}, window={window}",
    )


def test_large_scores_do_not_overflow(impl, device):
    # Scores of several hundred: exp() without subtracting the row max overflows float32.
    q, k, v = _qkv(1, 2, 12, 16, 8, 40, device, scale=10.0)
    _check(
        _call(impl, q, k, v, 4),
        q,
        k,
        v,
        4,
        atol=1e-3,
        rtol=1e-3,
        context="scores of magnitude ~100s, window=4 (stable softmax?)",
    )


# Scores are rounded to the input dtype before the softmax: twice the single-op atol, as in the
# attention card.
_LOW_PRECISION_TOL = {
    torch.float16: (2 * tolerance(torch.float16)[0], tolerance(torch.float16)[1]),
    torch.bfloat16: (2 * tolerance(torch.bfloat16)[0], tolerance(torch.bfloat16)[1]),
}


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_low_precision_keeps_dtype(impl, device, dtype):
    atol, rtol = _LOW_PRECISION_TOL[dtype]
    q, k, v = _qkv(2, 2, 11, 32, 16, 50, device, dtype)
    for window in (4, 11):
        _check(
            _call(impl, q, k, v, window),
            q,
            k,
            v,
            window,
            atol=atol,
            rtol=rtol,
            context=f"{dtype} inputs, window={window}",
        )


def test_gradients_wrt_query_key_value(impl, device):
    q, k, v = _qkv(2, 2, 10, 8, 6, 60, device)
    window = 3
    ours = [t.clone().requires_grad_() for t in (q, k, v)]
    ref = [t.double().requires_grad_() for t in (q, k, v)]
    upstream = randn((2, 2, 10, 6), 61, device)
    out = impl.sliding_window_attention(*ours, window)
    assert isinstance(out, torch.Tensor) and out.requires_grad, (
        "the output does not require grad: is it detached from query/key/value?"
    )
    (out * upstream).sum().backward()
    mask = sliding_window_mask(10, window, device=device)
    (
        F.scaled_dot_product_attention(*ref, attn_mask=mask) * upstream.double()
    ).sum().backward()
    for name, t, r in zip(("query", "key", "value"), ours, ref):
        assert t.grad is not None, f"no gradient reached `{name}`"
        assert_close(
            t.grad,
            r.grad.float(),
            what=f"gradient of {name}",
            atol=1e-4,
            rtol=1e-3,
            context=f"window={window}",
        )
