"""Verifier for FlashAttention in plain PyTorch: against torch's F.scaled_dot_product_attention
run in float64 (causal top-left, as SDPA), for Nq != Nk, lengths that are not multiples of
block_size, block_size past N, float16/bfloat16 and large scores; and a dispatch mode watches
every operation's output: when Nq or Nk exceed block_size, none may hold Nq·Nk elements or more,
or have last two dims (Nq, Nk).

A failed comparison also names the known mistake the attempt reproduces: each is computed by a
float64 tiled online softmax over key tiles of block_size with one thing changed (the
accumulator or the sum not rescaled, the last partial tile dropped, the causal mask aligned
bottom-right or excluding the diagonal, no scale...), and named only when the attempt's output
equals it while the right answer does not."""

import math

import pytest
import torch
import torch.nn.functional as F

from cards.checks import (
    TensorWatch,
    assert_close_diagnosed,
    assert_unchanged,
    call,
    randn,
    tolerance,
)


def _qkv(B, H, Nq, Nk, D, Dv, seed, device, dtype=torch.float32, scale=1.0):
    return (
        randn((B, H, Nq, D), seed, device, dtype, scale),
        randn((B, H, Nk, D), seed + 100, device, dtype, scale),
        randn((B, H, Nk, Dv), seed + 200, device, dtype),
    )


def _expected(q, k, v, is_causal):
    """torch's own SDPA in float64 (top-left causal), returned in the query's dtype."""
    out = F.scaled_dot_product_attention(
        q.double(), k.double(), v.double(), is_causal=is_causal
    )
    return out.to(q.dtype)


def _tiled(
    q,
    k,
    v,
    block,
    causal=None,
    scale=None,
    rescale_acc=True,
    rescale_sum=True,
    drop_tail=False,
    normalise=True,
):
    """The online softmax over key tiles of `block`, float64 on the CPU, with knobs for known
    mistakes. `causal`: None, "top_left", "bottom_right" or "strict" (j < i)."""
    q, k, v = (t.detach().to("cpu", torch.float64) for t in (q, k, v))
    Nq, Nk, D = q.size(-2), k.size(-2), q.size(-1)
    scale = 1.0 / math.sqrt(D) if scale is None else scale
    i = torch.arange(Nq)[:, None]
    m = torch.full((*q.shape[:-1], 1), float("-inf"), dtype=torch.float64)
    total = torch.zeros_like(m)
    acc = torch.zeros(*q.shape[:-1], v.size(-1), dtype=torch.float64)
    stop = Nk - Nk % block if drop_tail else Nk
    for k0 in range(0, stop, block):
        s = (q @ k[..., k0 : k0 + block, :].transpose(-2, -1)) * scale
        j = torch.arange(k0, k0 + s.size(-1))[None, :]
        hidden = {
            None: None,
            "top_left": j > i,
            "bottom_right": j > i + (Nk - Nq),
            "strict": j >= i,
        }[causal]
        if hidden is not None:
            s = s.masked_fill(hidden, float("-inf"))
        m_new = torch.maximum(m, s.amax(-1, keepdim=True))
        p = torch.nan_to_num(torch.exp(s - m_new), nan=0.0)
        alpha = torch.nan_to_num(torch.exp(m - m_new), nan=0.0)
        total = (alpha if rescale_sum else 1.0) * total + p.sum(-1, keepdim=True)
        acc = (alpha if rescale_acc else 1.0) * acc + p @ v[..., k0 : k0 + block, :]
        m = m_new
    return acc / total if normalise else acc


def _variants(q, k, v, is_causal, block):
    """[(the mistake in the user's words, a callable computing its output)]."""
    Nq, Nk, D = q.size(-2), k.size(-2), q.size(-1)
    right = "top_left" if is_causal else None

    def run(**change):
        args = {"causal": right, **change}
        return lambda: _tiled(q, k, v, block, **args)

    found = [
        (
            (
                "the accumulator is not rescaled when the running max grows: multiply acc by "
                "exp(m_old - m_new) before adding the new tile's p @ v"
            ),
            run(rescale_acc=False),
        ),
        (
            (
                "the running sum l is not rescaled when the running max grows: l = "
                "exp(m_old - m_new) * l + rowsum(p)"
            ),
            run(rescale_sum=False),
        ),
        (
            (
                "neither the accumulator nor the running sum is rescaled when the running max "
                "grows: both get the factor exp(m_old - m_new)"
            ),
            run(rescale_acc=False, rescale_sum=False),
        ),
        (
            "the output is never divided by the running sum l: return acc / l",
            run(normalise=False),
        ),
        (
            (
                f"the last key tile is dropped: Nk={Nk} is not a multiple of block_size={block}, "
                "and the keys past the last full tile must be included (a shorter last tile)"
            ),
            run(drop_tail=True),
        ),
        ("the scores are not scaled: multiply them by 1/sqrt(D)", run(scale=1.0)),
        ("the scores are scaled by 1/D, not 1/sqrt(D)", run(scale=1.0 / D)),
    ]
    if is_causal:
        found += [
            (
                "is_causal=True has no effect: the output matches attention without the mask",
                run(causal=None),
            ),
            (
                (
                    "the causal mask excludes the diagonal: query i must also see key i "
                    "(hide key j only when j > i)"
                ),
                run(causal="strict"),
            ),
        ]
        if Nq != Nk:
            found.append(
                (
                    (
                        f"the causal mask is aligned bottom-right (Nq={Nq}, Nk={Nk}); SDPA's is "
                        "top-left: query i sees keys 0..i whatever Nk is"
                    ),
                    run(causal="bottom_right"),
                )
            )
    return found


def _nonfinite_note(out) -> str:
    if isinstance(out, torch.Tensor) and not torch.isfinite(out).all():
        return (
            "\nlikely bug: the output has inf/NaN: exp() of scores that are not max-subtracted "
            "overflows (use exp(s - m_new), m_new the running max), or a tile where every score "
            "of a row is -inf gave exp(-inf - (-inf)) = NaN (skip tiles that lie wholly in the "
            "masked future, or guard that case)"
        )
    return ""


def _check(out, q, k, v, is_causal, block, context, atol=None, rtol=None):
    try:
        assert_close_diagnosed(
            out,
            _expected(q, k, v, is_causal),
            lambda: _variants(q, k, v, is_causal, block),
            atol=atol,
            rtol=rtol,
            context=context,
        )
    except AssertionError as exc:
        note = _nonfinite_note(out)
        if not note or "likely bug" in str(exc):
            raise
        raise AssertionError(str(exc) + note) from None


def _call(impl, q, k, v, **kwargs):
    """Calls the attempt and checks that it left its input tensors untouched."""
    before = [t.detach().clone() for t in (q, k, v)]
    out = call(impl.flash_attention, q, k, v, what="flash_attention", **kwargs)
    for name, b, t in zip(("query", "key", "value"), before, (q, k, v)):
        assert_unchanged(b, t, name)
    return out


def _describe(q, k, v, is_causal, block):
    return (
        f"query {tuple(q.shape)}, key {tuple(k.shape)}, value {tuple(v.shape)}, "
        f"is_causal={is_causal}, block_size={block}"
    )


# (B, H, Nq, Nk, D, Dv, block_size): lengths not multiples of the block, Nq < Nk, Nq > Nk,
# block_size past N, block_size 1, one query.
CASES = [
    (2, 2, 50, 50, 16, 16, 16),
    (1, 2, 37, 53, 8, 12, 8),
    (1, 2, 53, 37, 8, 8, 8),
    (2, 1, 10, 10, 8, 4, 64),
    (1, 1, 6, 7, 4, 4, 1),
    (1, 2, 1, 40, 8, 8, 16),
    (1, 1, 33, 33, 16, 16, 32),
]


@pytest.mark.parametrize("is_causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize(
    "case", CASES, ids=lambda c: f"Nq{c[2]}-Nk{c[3]}-D{c[4]}-Dv{c[5]}-block{c[6]}"
)
def test_matches_sdpa(impl, device, case, is_causal):
    B, H, Nq, Nk, D, Dv, block = case
    q, k, v = _qkv(B, H, Nq, Nk, D, Dv, sum(case), device)
    out = _call(impl, q, k, v, is_causal=is_causal, block_size=block)
    _check(out, q, k, v, is_causal, block, _describe(q, k, v, is_causal, block))


@pytest.mark.parametrize("is_causal", [False, True], ids=["full", "causal"])
def test_default_block_size(impl, device, is_causal):
    q, k, v = _qkv(1, 2, 100, 90, 8, 8, 3, device)
    out = _call(impl, q, k, v, is_causal=is_causal)
    _check(
        out, q, k, v, is_causal, 64, _describe(q, k, v, is_causal, 64) + " (default)"
    )


def test_large_scores_do_not_overflow(impl, device):
    # Scores of several hundred, spread over tiles: exp() without subtracting the running max
    # overflows float32 (> ~88), and the max grows from tile to tile.
    q, k, v = _qkv(1, 2, 20, 40, 16, 8, 5, device, scale=10.0)
    for is_causal in (False, True):
        out = _call(impl, q, k, v, is_causal=is_causal, block_size=8)
        _check(
            out,
            q,
            k,
            v,
            is_causal,
            8,
            _describe(q, k, v, is_causal, 8) + ", scores of magnitude ~100s",
            atol=1e-3,
            rtol=1e-3,
        )


def test_rows_of_only_very_negative_scores(impl, device):
    # Every score of a row near -1000: a running max started at 0 instead of -inf makes every
    # exp(s - m) underflow to 0, so l = 0 and the row is NaN; the max must come from the scores.
    q, k, v = _qkv(1, 2, 12, 24, 16, 8, 6, device)
    direction = torch.ones(16, device=device) / 4.0  # |direction| = 1
    q = q * 0.1 + direction * 40.0
    k = k * 0.1 - direction * 40.0  # q·k ≈ -1600, /sqrt(16): scores ≈ -400
    for is_causal in (False, True):
        out = _call(impl, q, k, v, is_causal=is_causal, block_size=8)
        _check(
            out,
            q,
            k,
            v,
            is_causal,
            8,
            _describe(q, k, v, is_causal, 8)
            + ", every score near -400 (a running max started at 0, not -inf, underflows here)",
            atol=1e-3,
            rtol=1e-3,
        )


_LOW_PRECISION_TOL = {
    torch.float16: (2 * tolerance(torch.float16)[0], tolerance(torch.float16)[1]),
    torch.bfloat16: (2 * tolerance(torch.bfloat16)[0], tolerance(torch.bfloat16)[1]),
}


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_low_precision_keeps_dtype(impl, device, dtype):
    atol, rtol = _LOW_PRECISION_TOL[dtype]
    q, k, v = _qkv(2, 2, 21, 30, 32, 16, 6, device, dtype)
    for is_causal in (False, True):
        out = _call(impl, q, k, v, is_causal=is_causal, block_size=8)
        _check(
            out,
            q,
            k,
            v,
            is_causal,
            8,
            _describe(q, k, v, is_causal, 8) + f", {dtype}",
            atol=atol,
            rtol=rtol,
        )


# (B, H, Nq, Nk, D, block_size, what the case catches). B·H·N·D stays below Nq·Nk.
MEMORY_CASES = [
    (1, 2, 70, 90, 16, 16, "the full score matrix"),
    (1, 2, 24, 300, 8, 16, "a tile holding every key (query tiles only)"),
    (1, 1, 40, 40, 8, 16, "a tile larger than block_size"),
]


@pytest.mark.parametrize("is_causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize(
    "case", MEMORY_CASES, ids=lambda c: f"Nq{c[2]}-Nk{c[3]}-block{c[5]}"
)
def test_never_builds_the_score_matrix(impl, device, case, is_causal):
    B, H, Nq, Nk, D, block, catches = case
    q, k, v = _qkv(B, H, Nq, Nk, D, D, 7, device)
    watch = TensorWatch(
        lambda t: (
            t.numel() >= Nq * Nk or (t.dim() >= 2 and tuple(t.shape[-2:]) == (Nq, Nk))
        ),
        impl.__file__,
    )
    with torch.no_grad(), watch:
        out = _call(impl, q, k, v, is_causal=is_causal, block_size=block)
    if watch.found is not None:
        name, shape, line = watch.found
        where = f" on your line {line}" if line else ""
        tile = shape[-2:] if len(shape) >= 2 else ()
        if len(tile) == 2 and min(tile) > block and tile != (Nq, Nk):
            catches = f"a tile of {tile[0]}×{tile[1]}, larger than block_size={block} both ways"
        raise AssertionError(
            f"built an Nq×Nk-sized tensor{where}: `{name}` returned shape {shape} "
            f"({math.prod(shape)} elements) with Nq={Nq}, Nk={Nk}, block_size={block}, where "
            f"nothing may hold Nq·Nk = {Nq * Nk} elements (this case catches {catches}): "
            "FlashAttention never materialises the scores, probabilities or mask of all keys "
            "for all queries; work on tiles of at most block_size keys (and queries), with an "
            "online softmax"
        )
    _check(out, q, k, v, is_causal, block, _describe(q, k, v, is_causal, block))
