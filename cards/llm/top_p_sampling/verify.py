"""Verifier for top-p (nucleus) sampling: the filter exactly, the sampler by distribution.

top_p_filter is compared exactly (kept logits bit for bit, the rest -inf) with transformers'
TopPLogitsWarper on logits whose cumulative probabilities (sorted, descending) all stay at
least 0.01 away from p, so that rounding can never decide whether a token is kept: any correct
formula gives the same set. sample_top_p is checked by a chi-square goodness-of-fit test per row
against softmax(top_p_filter(logits / T, p)) in float64, over thousands of draws of one call; a
test rejects only below p-value 1e-9 and the card runs fewer than 100 of them, so a correct
sampler (torch.multinomial, inverse CDF, Gumbel-max) fails a run less than once in ten million.
A filtered token drawn even once fails. Failures name the known mistakes the attempt matches."""

import pytest
import torch
from transformers.generation.logits_process import TopPLogitsWarper

from cards.checks import assert_tensor, assert_unchanged, call, generator
from cards.sampling import (
    assert_distribution,
    assert_seeding,
    check_output,
    probs_at,
    repeated,
)

# -- inputs ------------------------------------------------------------------------------------
MARGIN = 0.01  # every cumulative probability stays this far from p


def _cumulative(logits, temperature=1.0):
    """Descending-sorted cumulative probabilities of float64 (R, V) logits, with a 0 in front."""
    probs = torch.softmax(logits.double() / temperature, dim=-1)
    cum = probs.sort(dim=-1, descending=True).values.cumsum(-1)
    return torch.cat([torch.zeros_like(cum[:, :1]), cum], dim=-1)


def _kept_count(logits, p, temperature=1.0):
    before = _cumulative(logits, temperature)[:, :-1]  # mass of the tokens ranked above
    return (before < p).sum(-1)


def clear_rows(R, V, p, seed, temperatures=(1.0,), differ=False, scale=1.5):
    """(R, V) float64 logits without ties whose cumulative sums stay MARGIN away from p at every
    temperature given; with `differ`, the tokens kept differ between those temperatures."""
    g = generator(seed)
    found = []
    for _ in range(10000):
        row = torch.randn(1, V, generator=g, dtype=torch.float64) * scale
        clear = all(
            ((_cumulative(row, t) - p).abs() > MARGIN).all() for t in temperatures
        )
        if not clear:
            continue
        if differ and len({int(_kept_count(row, p, t)) for t in temperatures}) < 2:
            continue
        found.append(row)
        if len(found) == R:
            return torch.cat(found)
    raise RuntimeError("test setup: no clear rows found")


# -- references and known mistakes ----------------------------------------------------------------
def reference_filter(logits, p, min_tokens_to_keep=1):
    """TopPLogitsWarper on (rows, V), reshaped back: the token that crosses p is kept."""
    V = logits.shape[-1]
    warper = TopPLogitsWarper(top_p=p, min_tokens_to_keep=min_tokens_to_keep)
    return warper(None, logits.reshape(-1, V)).reshape(logits.shape)


def _filter_by_rank(logits, keep_sorted):
    """Apply a keep mask given in sorted (descending) order back in vocabulary order."""
    order = logits.sort(dim=-1, descending=True).indices
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
    return logits.masked_fill(~keep, float("-inf"))


def _sorted_stats(x):
    probs = torch.softmax(x.double(), dim=-1).sort(dim=-1, descending=True).values
    cum = probs.cumsum(-1)
    return probs, cum


def filter_variants(logits, p, m=1):
    """(a mistake in the user's terms, the filter output it gives), on the CPU."""
    x = logits.detach().cpu()
    V = x.shape[-1]
    probs, cum = _sorted_stats(x)
    rank = torch.arange(V)
    right_mask = (cum - probs < p) | (rank < m)
    crossing = (cum < p) | (rank < m)
    found = [
        (
            (
                "top-p dropped the token that crosses p: keep every token whose preceding "
                "cumulative probability (the mass ranked above it) is below p, so the kept "
                "set's mass reaches p"
            ),
            _filter_by_rank(x, crossing),
        ),
        (
            (
                "top-p dropped the token that crosses p: keep every token whose preceding "
                "cumulative probability (the mass ranked above it) is below p, so the kept "
                "set's mass reaches p"
            ),
            _filter_by_rank(x, (cum < p) | (rank < 1)),
        ),
        (
            (
                "the mask computed in sorted order was applied to the logits in vocabulary "
                "order: scatter it back through the sort indices first"
            ),
            x.masked_fill(~right_mask, float("-inf")),
        ),
        (
            (
                "the cumulative sum was taken in vocabulary order: sort the probabilities in "
                "descending order before the cumsum"
            ),
            x.masked_fill(
                ~(
                    (
                        torch.softmax(x.double(), -1).cumsum(-1)
                        - torch.softmax(x.double(), -1)
                    )
                    < p
                ),
                float("-inf"),
            ),
        ),
    ]
    if m > 1:
        found.append(
            (
                (
                    "min_tokens_to_keep was ignored: the min_tokens_to_keep most likely tokens "
                    "are always kept, whatever p"
                ),
                _filter_by_rank(x, cum - probs < p),
            )
        )
    return found


def assert_filter(out, logits, p, m, context):
    ctx = f"top_p_filter [{context}, p={p}, min_tokens_to_keep={m}]"
    expected = reference_filter(logits.detach().cpu(), p, m)
    assert_tensor(out, ctx)
    assert out.shape == logits.shape, (
        f"{ctx}: shape expected {tuple(logits.shape)}, got {tuple(out.shape)}"
    )
    assert out.dtype == logits.dtype, (
        f"{ctx}: dtype expected {logits.dtype} (keep the logits' dtype), got {out.dtype}"
    )
    assert out.device.type == logits.device.type, (
        f"{ctx}: device expected {logits.device.type}, got {out.device.type}"
    )
    got = out.detach().cpu()
    if torch.equal(got, expected):
        return
    x = logits.detach().cpu()
    not_inf = ~torch.isinf(got)
    if (not_inf & (got != x)).any():
        i = tuple(int(j) for j in (not_inf & (got != x)).nonzero()[0])
        message = (
            f"{ctx}: every logit must be either unchanged or -inf; at index {i} got "
            f"{got[i].item():g} where the input is {x[i].item():g}"
        )
        if got[i].item() == 0:
            message += (
                "\nlikely bug: filtered logits were set to 0, a likely logit, not an "
                "impossible one: use float('-inf')"
            )
        elif torch.equal(got.sort(-1).values, expected.sort(-1).values):
            message += (
                "\nlikely bug: the filtered logits were returned in sorted order: put them "
                "back in vocabulary order (scatter through the sort indices)"
            )
        raise AssertionError(message)
    wrong = (got != expected).nonzero()[0]
    i = tuple(int(j) for j in wrong)
    n_kept = (~torch.isinf(got)).sum(-1).flatten().tolist()
    n_want = (~torch.isinf(expected)).sum(-1).flatten().tolist()
    message = (
        f"{ctx}: wrong tokens kept; at index {i} got {got[i].item():g}, expected "
        f"{expected[i].item():g}; tokens kept per row {n_kept[:6]}, expected {n_want[:6]}"
    )
    found = []
    for why, v in filter_variants(logits, p, m):
        if why not in found and torch.equal(got, v) and not torch.equal(v, expected):
            found.append(why)
    if len(found) == 1:
        message += f"\nlikely bug (the output matches this mistake): {found[0]}"
    elif found:
        message += "\nlikely bug, one of these (the output matches each):" + "".join(
            f"\n  - {w}" for w in found
        )
    raise AssertionError(message)


def call_filter(impl, logits, p, m, context):
    before = logits.clone()
    if m == 1 and context.endswith("(default)"):
        out = call(impl.top_p_filter, logits, p)
    else:
        out = call(impl.top_p_filter, logits, p, min_tokens_to_keep=m)
    assert_unchanged(before, logits, "logits")
    return out


def sampled_probs(base, p, temperature):
    """softmax(filter(logits / T, p)) in float64 (argmax point mass for T = 0)."""
    if temperature == 0:
        return probs_at(base, 0)
    return probs_at(reference_filter(base / temperature, p), 1.0)


def sampler_variants(base, p, t):
    V = base.shape[-1]
    right = sampled_probs(base, p, t)
    position = right.sort(dim=-1, descending=True).values
    found = [
        (
            (
                "the draws follow the unfiltered softmax: sample from the filtered logits, so "
                "that tokens outside the nucleus are never drawn"
            ),
            probs_at(base, t),
        ),
        (
            (
                "the sampler returned the position in sorted order, not the token id: map it "
                "back through the sort indices (gather)"
            ),
            position,
        ),
        (
            "every draw is the argmax: sample from the filtered distribution",
            probs_at(base, 0),
        ),
    ]
    x = base / t
    _probs, cum = _sorted_stats(x)
    found.append(
        (
            (
                "top-p dropped the token that crosses p: keep every token whose preceding "
                "cumulative probability is below p"
            ),
            probs_at(_filter_by_rank(x, (cum < p) | (torch.arange(V) < 1)), 1.0),
        )
    )
    if t != 1:
        found.append(
            (
                (
                    "the temperature was applied after the top-p filter: divide the logits by "
                    "the temperature first, then filter (as generate does)"
                ),
                probs_at(reference_filter(base, p) / t, 1.0),
            )
        )
        found.append(
            (
                "the temperature is ignored: divide the logits by it before filtering",
                sampled_probs(base, p, 1.0),
            )
        )
    return found


def draw(impl, logits, p, temperature, seed, device):
    before = logits.clone()
    out = call(
        impl.sample_top_p,
        logits,
        p,
        temperature=temperature,
        generator=generator(seed, device),
    )
    assert_unchanged(before, logits, "logits")
    return out


# -- top_p_filter ----------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.3, 0.5, 0.8, 0.9, 0.97])
@pytest.mark.parametrize("shape", [(11,), (6, 11), (2, 3, 11)])
def test_filter_matches_transformers(impl, device, p, shape):
    R = int(torch.tensor(shape[:-1]).prod())
    logits = clear_rows(R, 11, p, seed=int(p * 100)).reshape(shape)
    logits = logits.float().to(device)
    out = call_filter(impl, logits, p, 1, f"logits of shape {shape} (default)")
    assert_filter(out, logits, p, 1, f"logits of shape {shape}")


@pytest.mark.parametrize("p,m", [(0.1, 1), (0.1, 3), (0.5, 4), (0.6, 1), (0.9, 11)])
def test_filter_min_tokens_to_keep(impl, device, p, m):
    logits = clear_rows(5, 11, p, seed=10 + m, scale=2.5).to(device)
    out = call_filter(impl, logits, p, m, "logits of shape (5, 11)")
    assert_filter(out, logits, p, m, "logits of shape (5, 11)")


def test_filter_float64_and_large_logits(impl, device):
    logits = (clear_rows(4, 16, 0.75, seed=20) + 1000).to(device)
    out = call_filter(impl, logits, 0.75, 1, "float64 logits + 1000")
    assert_filter(out, logits, 0.75, 1, "float64 logits + 1000")


# -- sample_top_p ----------------------------------------------------------------------------------
@pytest.mark.parametrize("p,temperature", [(0.7, 1.0), (0.6, 2.0), (0.8, 0.5)])
def test_sampler_distribution(impl, device, p, temperature):
    temps = (temperature,) if temperature == 1 else (temperature, 1.0)
    base = clear_rows(3, 10, p, seed=30, temperatures=temps, differ=temperature != 1)
    n = 2000
    logits = repeated(base, n, device)
    out = draw(impl, logits, p, temperature, 31, device)
    check_output(out, logits, "sample_top_p", f"logits of shape {tuple(logits.shape)}")
    assert_distribution(
        out,
        sampled_probs(base, p, temperature),
        f"p={p}, temperature={temperature}, {n} draws per row",
        sampler_variants(base, p, temperature),
    )


@pytest.mark.parametrize("shape", [(9,), (2, 3, 9)])
def test_sampler_leading_shapes(impl, device, shape):
    R = int(torch.tensor(shape[:-1]).prod())
    base = clear_rows(R, 9, 0.8, seed=40, temperatures=(0.8,))
    n = 1200
    logits = repeated(base, n, device).reshape(n, *shape)
    out = draw(impl, logits, 0.8, 0.8, 41, device)
    check_output(out, logits, "sample_top_p", f"logits of shape {tuple(logits.shape)}")
    assert_distribution(
        out.reshape(n, -1),
        sampled_probs(base, 0.8, 0.8),
        f"logits of shape {tuple(logits.shape)}, p=0.8, temperature=0.8",
        sampler_variants(base, 0.8, 0.8),
    )


@pytest.mark.parametrize("shape", [(11,), (5, 11), (2, 3, 11)])
def test_temperature_zero_is_argmax(impl, device, shape):
    logits = torch.randn(shape, generator=generator(50)).to(device) * 3
    before = logits.clone()
    try:
        out = impl.sample_top_p(
            logits, 0.9, temperature=0.0, generator=generator(51, device)
        )
    except (RuntimeError, ValueError, ZeroDivisionError) as exc:
        raise AssertionError(
            f"sample_top_p(logits, p, temperature=0) raised {type(exc).__name__}: {exc}\n"
            "likely bug: temperature 0 must return the argmax (greedy decoding); dividing by "
            "0 gives inf and nan, so handle it before the division"
        ) from None
    assert_unchanged(before, logits, "logits")
    check_output(out, logits, "sample_top_p(temperature=0)", f"logits of shape {shape}")
    expected = logits.argmax(-1)
    assert torch.equal(out.cpu(), expected.cpu()), (
        f"sample_top_p(logits, 0.9, temperature=0) [logits of shape {shape}]: temperature 0 "
        f"must return the argmax; got {out.flatten().tolist()[:8]}, expected "
        f"{expected.flatten().tolist()[:8]}"
    )


def test_seeding(impl, device):
    logits = repeated(clear_rows(3, 12, 0.9, seed=60), 400, device)
    assert_seeding(
        lambda g: call(impl.sample_top_p, logits, 0.9, temperature=1.0, generator=g),
        logits,
        "sample_top_p",
    )


def test_large_logits_stay_finite(impl, device):
    base = clear_rows(3, 10, 0.85, seed=70, temperatures=(0.5,)) + 1000
    n = 2000
    logits = repeated(base, n, device)
    try:
        out = draw(impl, logits, 0.85, 0.5, 71, device)
    except (RuntimeError, ValueError) as exc:
        raise AssertionError(
            f"sample_top_p raised on all logits + 1000: {exc}\nlikely bug: exp of large "
            "logits overflowed to inf (inf / inf = nan): subtract the max before exp "
            "(torch.softmax does)"
        ) from None
    check_output(out, logits, "sample_top_p", "all logits + 1000")
    assert_distribution(
        out,
        sampled_probs(base, 0.85, 0.5),
        "all logits + 1000, p=0.85, temperature=0.5",
        sampler_variants(base, 0.85, 0.5),
    )
