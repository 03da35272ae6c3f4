"""The card kit for sampling cards: a sampler is tested by distribution, never by fixed draws.

A test repeats a few rows of logits thousands of times as one batch, takes one call's draws and
runs a chi-square goodness-of-fit test per row against the expected probabilities (float64).
It rejects only below a p-value of ALPHA = 1e-9: with fewer than 100 such tests in a card, a
correct sampler (torch.multinomial, inverse CDF, Gumbel-max, any use of the generator) fails a
run less than once in ten million. Bins expected to hold fewer than MIN_EXPECTED draws are
pooled, so the chi-square approximation holds in the tail."""

from __future__ import annotations

import torch

from cards.checks import assert_tensor, generator

ALPHA = 1e-9  # per chi-square test; fewer than 100 tests per run
MIN_EXPECTED = 20.0  # bins expected to hold fewer draws are pooled


def chi_square_pvalue(counts: torch.Tensor, probs: torch.Tensor) -> float:
    """P(X >= stat) for Pearson's statistic of `counts` against `probs` (both (V,)), bins with
    expected counts below MIN_EXPECTED pooled. Tokens of probability 0 must have count 0
    (checked by the caller) and are left out. 1.0 when fewer than two bins remain."""
    counts = counts.double().cpu()
    probs = probs.double().cpu()
    n = counts.sum()
    expected = probs * n
    support = probs > 0
    big = support & (expected >= MIN_EXPECTED)
    obs = [counts[big]]
    exp = [expected[big]]
    small = support & ~big
    if small.any():
        obs.append(counts[small].sum().reshape(1))
        exp.append(expected[small].sum().reshape(1))
    obs, exp = torch.cat(obs), torch.cat(exp)
    if exp.numel() >= 2 and exp.min() < MIN_EXPECTED:  # a small pooled bin: merge it
        i = int(exp.argmin())
        j = int(torch.cat([exp[:i], exp[i + 1 :]]).argmin())
        j = j + (j >= i)
        obs[j] += obs[i]
        exp[j] += exp[i]
        keep = torch.ones_like(exp, dtype=torch.bool)
        keep[i] = False
        obs, exp = obs[keep], exp[keep]
    if exp.numel() < 2:
        return 1.0
    stat = ((obs - exp) ** 2 / exp).sum()
    dof = torch.tensor(float(exp.numel() - 1), dtype=torch.float64)
    return float(torch.special.gammaincc(dof / 2, stat / 2))


def fits(counts: torch.Tensor, probs: torch.Tensor) -> bool:
    """The draws could come from `probs`: none where it is 0, and a p-value above 1e-6."""
    probs = probs.double().cpu()
    if counts[probs == 0].sum() > 0:
        return False
    return chi_square_pvalue(counts, probs) > 1e-6


def check_output(draws, logits, what, context):
    """A LongTensor of shape logits.shape[:-1] on logits' device, every id in [0, V)."""
    ctx = f" [{context}]"
    assert_tensor(draws, what + ctx)
    assert draws.shape == logits.shape[:-1], (
        f"{what}{ctx}: shape expected {tuple(logits.shape[:-1])} (logits.shape[:-1], one "
        f"token per position), got {tuple(draws.shape)}"
    )
    assert draws.dtype == torch.int64, (
        f"{what}{ctx}: dtype expected torch.int64 (token ids), got {draws.dtype}"
    )
    assert draws.device.type == logits.device.type, (
        f"{what}{ctx}: device expected {logits.device.type}, got {draws.device.type}"
    )
    V = logits.shape[-1]
    if draws.numel():
        lo, hi = int(draws.min()), int(draws.max())
        assert 0 <= lo and hi < V, (
            f"{what}{ctx}: token ids must lie in [0, {V}), got values from {lo} to {hi}"
        )


def assert_distribution(draws, probs, context, variants=()):
    """draws (n, R) int64, probs (R, V) float64: each column of draws follows its row of probs.
    `variants` is a list of (a mistake in the user's terms, its probs (R, V) or None for a
    check on the raw draws): a failure names those the draws fit."""
    draws = draws.cpu()
    n, R = draws.shape
    V = probs.shape[-1]
    for r in range(R):
        counts = torch.bincount(draws[:, r], minlength=V)
        zero = (probs[r] == 0).nonzero().flatten().tolist()
        drawn = [t for t in zero if counts[t] > 0]
        if drawn:
            message = (
                f"[{context}] row {r}: token {drawn[0]} has probability 0 (filtered out) but "
                f"was drawn {int(counts[drawn[0]])} times in {n} draws"
            )
        else:
            p = chi_square_pvalue(counts, probs[r])
            if p >= ALPHA:
                continue
            top = probs[r].topk(min(4, V))
            shown = ", ".join(
                f"token {int(i)}: expected {probs[r, i].item():.3f}, drawn "
                f"{int(counts[i]) / n:.3f}"
                for i in top.indices
            )
            message = (
                f"[{context}] row {r}: the draws do not follow the expected distribution "
                f"(chi-square p-value {p:.2g} over {n} draws, a correct sampler goes below "
                f"{ALPHA:g} less than once in a billion runs); frequencies of the likeliest "
                f"tokens: {shown}"
            )
        found = []
        for why, wrong in variants:
            if callable(wrong):
                if wrong(draws):
                    found.append(why)
                continue
            all_fit = all(
                fits(torch.bincount(draws[:, q], minlength=V), wrong[q])
                for q in range(R)
            )
            if all_fit:
                found.append(why)
        if len(found) == 1:
            message += f"\nlikely bug (the draws fit this mistake): {found[0]}"
        elif found:
            message += "\nlikely bug, one of these (the draws fit each):" + "".join(
                f"\n  - {w}" for w in found
            )
        raise AssertionError(message)


def same_draw_everywhere(draws) -> bool:
    """Every repeat of a row got the same token although its distribution is not a point mass."""
    return bool((draws == draws[:1]).all())


def probs_at(logits, temperature):
    """softmax(logits / T) in float64; T = 0 gives the point mass on the argmax."""
    x = logits.double().cpu()
    if temperature == 0:
        return torch.nn.functional.one_hot(x.argmax(-1), x.shape[-1]).double()
    return torch.softmax(x / temperature, dim=-1)


# -- inputs ------------------------------------------------------------------------------------
def rows(R, V, seed, scale=1.5):
    """(R, V) float64 logits with distinct values (no ties)."""
    return torch.randn(R, V, generator=generator(seed), dtype=torch.float64) * scale


def repeated(base, n, device, dtype=torch.float32):
    """(n, R, V): `base` (R, V) repeated n times as one batch, cast and moved."""
    return base.to(dtype).unsqueeze(0).expand(n, *base.shape).contiguous().to(device)


def assert_seeding(sampler, logits, name: str) -> None:
    """`sampler(generator)` draws from `logits` ((n, R, V), n large) with that generator, or
    with torch's global random state when it is None. Seeded alike: the same draws; seeded
    otherwise, or the same generator used again: other draws; None follows torch.manual_seed."""
    device = logits.device.type
    a, b = sampler(generator(11, device)), sampler(generator(11, device))
    check_output(a, logits, name, "seeded generator")
    n = a.numel()
    assert torch.equal(a.cpu(), b.cpu()), (
        f"{name}: two calls with generators seeded alike gave different draws: take all "
        "randomness from `generator` (pass generator=generator to torch.multinomial / "
        "torch.rand / exponential_), not from the global random state"
    )
    c = sampler(generator(12, device))
    assert not torch.equal(a.cpu(), c.cpu()), (
        f"{name}: generators with different seeds gave the same {n} draws: draw the "
        "randomness from `generator`, not from a fixed seed"
    )
    g = generator(11, device)
    first, second = sampler(g), sampler(g)
    assert not torch.equal(first.cpu(), second.cpu()), (
        f"{name}: two calls with the same generator object gave the same {n} draws: the "
        "generator must advance (do not re-seed or copy it)"
    )
    torch.manual_seed(123)
    d = sampler(None)
    torch.manual_seed(123)
    e, f = sampler(None), sampler(None)
    assert torch.equal(d.cpu(), e.cpu()), (
        f"{name} with generator=None must use torch's global random state: after the same "
        "torch.manual_seed it must give the same draws"
    )
    assert not torch.equal(e.cpu(), f.cpu()), (
        f"{name} with generator=None gave the same {n} draws on two calls in a row: use "
        "torch's global random state, not a fresh generator each call"
    )
