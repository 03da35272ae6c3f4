"""Verifier for top-k sampling: the filter exactly, the sampler by distribution.

top_k_filter is compared exactly (kept logits bit for bit, the rest -inf) with transformers'
TopKLogitsWarper, on logits with many ties, k from 1 to beyond the vocabulary. sample_top_k is
checked by a chi-square goodness-of-fit test per row against softmax(top_k_filter(logits) / T)
in float64, over thousands of draws of one call: a test rejects only below p = 1e-9 and the card
runs fewer than 100 of them, so a correct sampler (torch.multinomial, inverse CDF, Gumbel-max)
fails a run less than once in ten million. A filtered token drawn even once fails. Failures
name the known mistakes whose output (filter) or distribution (sampler) the attempt matches."""

import pytest
import torch
from transformers.generation.logits_process import TopKLogitsWarper

from cards.checks import assert_tensor, assert_unchanged, call, generator
from cards.sampling import (
    assert_distribution,
    assert_seeding,
    check_output,
    probs_at,
    repeated,
    rows,
)


# -- inputs ------------------------------------------------------------------------------------
def tied_rows(R, V, seed):
    """(R, V) float64 logits drawn from a few integers: many ties, also at the k-th value."""
    return torch.randint(-3, 3, (R, V), generator=generator(seed)).double()


# -- references and known mistakes ----------------------------------------------------------------
def reference_filter(logits, k):
    """TopKLogitsWarper on (rows, V), reshaped back: ties with the k-th value kept."""
    V = logits.shape[-1]
    flat = logits.reshape(-1, V)
    return TopKLogitsWarper(top_k=k)(None, flat).reshape(logits.shape)


def _keep_count(logits, k, count):
    """Keep exactly the `count` largest entries of each row (ties broken by topk)."""
    V = logits.shape[-1]
    count = max(0, min(count, V))
    if count == 0:
        return torch.full_like(logits, float("-inf"))
    idx = logits.topk(count, dim=-1).indices
    keep = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, idx, True)
    return logits.masked_fill(~keep, float("-inf"))


def _kth_threshold(logits, k, strict=False, flat=False):
    V = logits.shape[-1]
    k = min(k, V)
    if flat:
        kth = logits.flatten().topk(min(k, logits.numel())).values[-1]
    else:
        kth = logits.topk(k, dim=-1).values[..., -1:]
    drop = logits <= kth if strict else logits < kth
    return logits.masked_fill(drop, float("-inf"))


def filter_variants(logits, k):
    """(a mistake in the user's terms, the filter output it gives), computed on the CPU."""
    x = logits.detach().cpu()
    ties = (
        "tokens tied with the k-th largest logit were dropped: keep every token whose "
        "logit is >= the k-th largest (compare with `<` to filter, not `<=`, and do not "
        "keep exactly k indices)"
    )
    V = x.shape[-1]
    found = [(ties, _keep_count(x, k, k))]
    if k < V:  # kept only what is > the (k+1)-th largest: its ties with the k-th go too
        nxt = x.sort(dim=-1, descending=True).values[..., k : k + 1]
        found.append((ties, x.masked_fill(~(x > nxt), float("-inf"))))
    found += [
        (
            (
                "the k-th largest logit itself was filtered (`logits <= kth` instead of "
                "`logits < kth`)"
            ),
            _kth_threshold(x, k, strict=True),
        ),
        ("k + 1 tokens were kept (off by one)", reference_filter(x, k + 1)),
        (
            (
                "the k-th largest value was taken over the whole batch, not per row: use "
                "topk(..., dim=-1) on the last dim"
            ),
            _kth_threshold(x, k, flat=True),
        ),
    ]
    if k > 1:
        found.append(
            ("k - 1 tokens were kept (off by one)", reference_filter(x, k - 1))
        )
    return found


def assert_filter(out, logits, k, context):
    ctx = f"top_k_filter [{context}, k={k}]"
    expected = reference_filter(logits.detach().cpu(), k)
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
    dropped = torch.isinf(expected) & ~torch.isinf(got)
    if dropped.any() and (got[dropped] != logits.cpu()[dropped]).any():
        i = tuple(int(j) for j in dropped.nonzero()[0])
        message = (
            f"{ctx}: filtered entries must be -inf; at index {i} got {got[i].item():g} "
            f"where the input is {logits.cpu()[i].item():g}"
        )
        if got[i].item() == 0:
            message += (
                "\nlikely bug: filtered logits were set to 0, which is a likely logit, not "
                "an impossible one: use float('-inf') (masked_fill(..., -inf))"
            )
        raise AssertionError(message)
    changed = ~torch.isinf(expected) & ~torch.isinf(got) & (got != expected)
    if changed.any():
        i = tuple(int(j) for j in changed.nonzero()[0])
        raise AssertionError(
            f"{ctx}: kept logits must be returned unchanged; at index {i} got "
            f"{got[i].item():g}, expected {expected[i].item():g}"
        )
    wrong = (got != expected).nonzero()[0]
    i = tuple(int(j) for j in wrong)
    n_kept = (~torch.isinf(got)).sum(-1).flatten().tolist()
    n_want = (~torch.isinf(expected)).sum(-1).flatten().tolist()
    message = (
        f"{ctx}: wrong tokens kept; at index {i} got {got[i].item():g}, expected "
        f"{expected[i].item():g}; tokens kept per row {n_kept[:6]}, expected {n_want[:6]}"
    )
    found = []
    for why, v in filter_variants(logits, k):
        if why not in found and torch.equal(got, v) and not torch.equal(v, expected):
            found.append(why)
    if len(found) == 1:
        message += f"\nlikely bug (the output matches this mistake): {found[0]}"
    elif found:
        message += "\nlikely bug, one of these (the output matches each):" + "".join(
            f"\n  - {w}" for w in found
        )
    raise AssertionError(message)


def call_filter(impl, logits, k, context):
    before = logits.clone()
    try:
        out = call(impl.top_k_filter, logits, k)
    except (RuntimeError, IndexError) as exc:
        if k > logits.shape[-1]:
            raise AssertionError(
                f"top_k_filter [{context}, k={k}] raised {type(exc).__name__}: {exc}\n"
                f"likely bug: k={k} is larger than the vocabulary ({logits.shape[-1]}): "
                "then every token is kept (use min(k, V))"
            ) from None
        raise
    assert_unchanged(before, logits, "logits")
    return out


def sampled_probs(base, k, temperature):
    """softmax(filter(logits) / T) in float64 (argmax point mass for T = 0)."""
    return probs_at(reference_filter(base, k), temperature)


def sampler_variants(base, k, temperature):
    t = temperature
    V = base.shape[-1]
    sorted_probs = sampled_probs(base, k, t).sort(dim=-1, descending=True).values
    position = torch.zeros_like(sorted_probs)
    position[:, : min(k, V)] = sorted_probs[:, : min(k, V)]
    found = [
        (
            (
                "the draws follow the unfiltered softmax: sample from the filtered logits, so "
                "that tokens outside the top k are never drawn"
            ),
            probs_at(base, t),
        ),
        (
            (
                "the sampler returned the position within the top-k (0..k-1), not the token id: "
                "map it back through the top-k indices (gather)"
            ),
            position,
        ),
        (
            "every draw is the argmax: sample from the filtered distribution",
            probs_at(base, 0),
        ),
    ]
    if t != 1:
        found.append(
            (
                "the temperature is ignored: divide the logits by it before the softmax",
                sampled_probs(base, k, 1.0),
            )
        )
        found.append(
            (
                "the logits were multiplied by the temperature: divide them by it",
                sampled_probs(base, k, 1.0 / t),
            )
        )
    if k > 1:
        found.append(
            ("k - 1 tokens were kept (off by one)", sampled_probs(base, k - 1, t))
        )
    found.append(("k + 1 tokens were kept (off by one)", sampled_probs(base, k + 1, t)))
    return found


def draw(impl, logits, k, temperature, seed, device):
    before = logits.clone()
    out = call(
        impl.sample_top_k,
        logits,
        k,
        temperature=temperature,
        generator=generator(seed, device),
    )
    assert_unchanged(before, logits, "logits")
    return out


# -- top_k_filter ----------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(13,), (4, 13), (2, 3, 13)])
@pytest.mark.parametrize("k", [1, 2, 4, 7, 13, 20])
def test_filter_matches_transformers_with_ties(impl, device, shape, k):
    logits = tied_rows(int(torch.tensor(shape[:-1]).prod()), 13, seed=k).reshape(shape)
    logits = logits.float().to(device)
    out = call_filter(impl, logits, k, f"tied logits of shape {shape}")
    assert_filter(out, logits, k, f"tied logits of shape {shape}")


@pytest.mark.parametrize("k", [1, 3, 8, 50])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_filter_distinct_logits(impl, device, k, dtype):
    logits = rows(5, 32, seed=3 + k).to(device=device, dtype=dtype)
    out = call_filter(impl, logits, k, f"{dtype} logits of shape (5, 32)")
    assert_filter(out, logits, k, f"{dtype} logits of shape (5, 32)")


def test_filter_keeps_minus_inf_and_large_values(impl, device):
    # Already-filtered (-inf) entries and logits near 1e4 stay as they are.
    logits = rows(3, 10, seed=21) * 1000
    logits[:, 0] = float("-inf")
    logits = logits.float().to(device)
    out = call_filter(impl, logits, 4, "logits ~ 1e3 with a -inf column")
    assert_filter(out, logits, 4, "logits ~ 1e3 with a -inf column")


# -- sample_top_k ----------------------------------------------------------------------------------
@pytest.mark.parametrize("k,temperature", [(3, 1.0), (5, 0.7), (4, 2.0), (12, 1.0)])
def test_sampler_distribution(impl, device, k, temperature):
    base = rows(3, 12, seed=30 + k)
    n = 2000
    logits = repeated(base, n, device)
    out = draw(impl, logits, k, temperature, 40 + k, device)
    check_output(out, logits, "sample_top_k", f"logits of shape {tuple(logits.shape)}")
    assert_distribution(
        out,
        sampled_probs(base, k, temperature),
        f"k={k}, temperature={temperature}, {n} draws per row",
        sampler_variants(base, k, temperature),
    )


def test_sampler_with_ties_at_the_kth_value(impl, device):
    # Rows with ties at the k-th logit: every tied token can be drawn.
    base = torch.tensor(
        [[2.0, 1.0, 1.0, 1.0, 0.0, -1.0], [0.5, 0.5, 0.5, 0.0, 0.5, -2.0]]
    )
    n = 2000
    logits = repeated(base, n, device)
    out = draw(impl, logits, 2, 1.0, 50, device)
    check_output(out, logits, "sample_top_k", "tied logits")
    assert_distribution(
        out,
        sampled_probs(base, 2, 1.0),
        "k=2, logits tied at the k-th value, temperature=1",
        sampler_variants(base, 2, 1.0)
        + [
            (
                (
                    "tokens tied with the k-th largest logit were never drawn: keep every token "
                    "whose logit is >= the k-th largest"
                ),
                probs_at(_keep_count(base, 2, 2), 1.0),
            )
        ],
    )


@pytest.mark.parametrize("shape", [(9,), (2, 3, 9)])
def test_sampler_leading_shapes(impl, device, shape):
    R = int(torch.tensor(shape[:-1]).prod())
    base = rows(R, 9, seed=60)
    n = 1200
    logits = repeated(base, n, device).reshape(n, *shape)
    out = draw(impl, logits, 4, 0.8, 61, device)
    check_output(out, logits, "sample_top_k", f"logits of shape {tuple(logits.shape)}")
    assert_distribution(
        out.reshape(n, -1),
        sampled_probs(base, 4, 0.8),
        f"logits of shape {tuple(logits.shape)}, k=4, temperature=0.8",
        sampler_variants(base, 4, 0.8),
    )


@pytest.mark.parametrize("shape", [(11,), (5, 11), (2, 3, 11)])
@pytest.mark.parametrize("k", [1, 3])
def test_temperature_zero_is_argmax(impl, device, shape, k):
    logits = torch.randn(shape, generator=generator(70)).to(device) * 3
    before = logits.clone()
    try:
        out = impl.sample_top_k(
            logits, k, temperature=0.0, generator=generator(71, device)
        )
    except (RuntimeError, ValueError, ZeroDivisionError) as exc:
        raise AssertionError(
            f"sample_top_k(logits, k, temperature=0) raised {type(exc).__name__}: {exc}\n"
            "likely bug: temperature 0 must return the argmax (greedy decoding); dividing by "
            "0 gives inf and nan, so handle it before the division"
        ) from None
    assert_unchanged(before, logits, "logits")
    check_output(out, logits, "sample_top_k(temperature=0)", f"logits of shape {shape}")
    expected = logits.argmax(-1)
    assert torch.equal(out.cpu(), expected.cpu()), (
        f"sample_top_k(logits, {k}, temperature=0) [logits of shape {shape}]: temperature 0 "
        f"must return the argmax; got {out.flatten().tolist()[:8]}, expected "
        f"{expected.flatten().tolist()[:8]}"
    )


def test_seeding(impl, device):
    logits = repeated(rows(3, 12, seed=80), 400, device)
    assert_seeding(
        lambda g: call(impl.sample_top_k, logits, 6, temperature=1.0, generator=g),
        logits,
        "sample_top_k",
    )


def test_large_logits_stay_finite(impl, device):
    base = rows(3, 10, seed=90) + 1000
    n = 2000
    logits = repeated(base, n, device)
    try:
        out = draw(impl, logits, 4, 0.5, 91, device)
    except (RuntimeError, ValueError) as exc:
        raise AssertionError(
            f"sample_top_k raised on all logits + 1000: {exc}\nlikely bug: exp of large "
            "logits overflowed to inf (inf / inf = nan): subtract the max before exp "
            "(torch.softmax does)"
        ) from None
    check_output(out, logits, "sample_top_k", "all logits + 1000")
    assert_distribution(
        out,
        sampled_probs(base, 4, 0.5),
        "all logits + 1000, k=4, temperature=0.5",
        sampler_variants(base, 4, 0.5),
    )
