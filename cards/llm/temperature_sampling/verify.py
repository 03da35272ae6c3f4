"""Verifier for temperature sampling: by distribution, never by fixed draws.

Each distribution test repeats a few rows of logits thousands of times as a batch, takes one
call's draws and runs a chi-square goodness-of-fit test per row against softmax(logits / T)
computed in float64. A test rejects only when its p-value is below 1e-9, and the card runs
fewer than 100 such tests: a correct sampler (torch.multinomial, inverse CDF, Gumbel-max, any
way of using the generator) fails a run less than once in ten million. Bins whose expected
count is below 20 are pooled so the chi-square approximation holds in that tail. A failed test
names the known mistakes (no temperature, logits multiplied by T, argmax every time, one random
number shared by the batch) whose distribution the draws do fit."""

import pytest
import torch

from cards.checks import assert_unchanged, call, generator
from cards.sampling import (
    assert_distribution,
    assert_seeding,
    check_output,
    probs_at,
    repeated,
    rows,
    same_draw_everywhere,
)


# -- inputs ------------------------------------------------------------------------------------
def variants_for(base, temperature):
    """The known mistakes of a temperature sampler, as distributions over each row."""
    found = []
    if temperature != 1:
        no_t = "the temperature is ignored: divide the logits by it before the softmax"
        times_t = (
            "the logits were multiplied by the temperature: divide them by it "
            "(T > 1 flattens the distribution, T < 1 sharpens it)"
        )
        found.append((no_t, probs_at(base, 1.0)))
        found.append((times_t, probs_at(base, 1.0 / temperature)))
    argmax = (
        "every draw is the argmax: sample from the distribution (argmax is only for "
        "temperature 0)"
    )
    shared = (
        "every position of the batch got the same token: draw one random number (or one "
        "sample) per position, not one for the whole batch"
    )
    found.append((argmax, probs_at(base, 0)))
    argmax_ids = base.argmax(-1)
    found.append(
        (
            shared,
            lambda d: same_draw_everywhere(d) and not bool((d == argmax_ids).all()),
        )
    )
    return found


def draw(impl, logits, temperature, seed, device):
    before = logits.clone()
    out = call(
        impl.sample, logits, temperature=temperature, generator=generator(seed, device)
    )
    check_unchanged(before, logits, temperature)
    return out


def check_unchanged(before, after, temperature):
    try:
        assert_unchanged(before, after, "logits")
    except AssertionError as exc:
        note = ""
        if temperature not in (0, 1) and torch.allclose(
            after.double(), before.double() / temperature, rtol=1e-5
        ):
            note = (
                "\nlikely bug: logits were divided by the temperature in place (`/=` or "
                "div_); write `logits / temperature`, which makes a new tensor"
            )
        raise AssertionError(f"{exc}{note}") from None


# -- tests -------------------------------------------------------------------------------------
@pytest.mark.parametrize("temperature", [1.0, 0.6, 2.5])
def test_distribution(impl, device, temperature):
    base = rows(4, 10, seed=1)
    n = 3000
    logits = repeated(base, n, device)
    out = draw(impl, logits, temperature, 7, device)
    check_output(out, logits, "sample", f"logits of shape {tuple(logits.shape)}")
    assert_distribution(
        out,
        probs_at(base, temperature),
        f"temperature={temperature}, {n} draws per row",
        variants_for(base, temperature),
    )


@pytest.mark.parametrize("temperature", [0.05, 0.15])
def test_low_temperature_sharpens_exactly(impl, device, temperature):
    # close logits (gaps of 0.1), so that T = 0.05 and T = 0.1 give clearly different
    # distributions: a "stability" floor on the temperature must not pass
    base = torch.tensor([[0.0, -0.1, -0.2, -0.3, -0.5, -1.0]], dtype=torch.float64)
    n = 3000
    logits = repeated(base, n, device)
    out = draw(impl, logits, temperature, 8, device)
    check_output(out, logits, "sample", f"logits of shape {tuple(logits.shape)}")
    floor = "the temperature was raised to a floor: divide by the temperature given, however small"
    assert_distribution(
        out,
        probs_at(base, temperature),
        f"temperature={temperature}, logits {base[0].tolist()}, {n} draws",
        [(floor, probs_at(base, 0.1 if temperature < 0.1 else 0.5))],
    )


@pytest.mark.parametrize("shape", [(7,), (3, 7), (2, 3, 7), (2, 1, 2, 7)])
def test_leading_shapes(impl, device, shape):
    # Distinct rows in every leading position, each repeated n times along a new first dim.
    V = shape[-1]
    base = rows(max(1, int(torch.tensor(shape[:-1]).prod())), V, seed=2)
    n = 2000
    logits = repeated(base, n, device).reshape(n, *shape)
    out = draw(impl, logits, 0.8, 8, device)
    check_output(out, logits, "sample", f"logits of shape {tuple(logits.shape)}")
    assert_distribution(
        out.reshape(n, -1),
        probs_at(base, 0.8),
        f"logits of shape {tuple(logits.shape)}, temperature=0.8",
        variants_for(base, 0.8),
    )


def test_one_dimensional_logits(impl, device):
    # (V,) logits give a 0-dim tensor; repeated calls with one generator follow the softmax.
    base = rows(1, 6, seed=3)
    logits = base[0].float().to(device)
    g = generator(9, device)
    draws = []
    for _ in range(1000):
        out = call(impl.sample, logits, temperature=1.3, generator=g)
        check_output(out, logits, "sample", "logits of shape (6,)")
        draws.append(int(out))
    assert_distribution(
        torch.tensor(draws).reshape(-1, 1),
        probs_at(base, 1.3),
        "logits of shape (6,), 1000 calls with one generator, temperature=1.3",
        variants_for(base, 1.3)[:-1],
    )


@pytest.mark.parametrize("shape", [(9,), (4, 9), (2, 3, 9)])
@pytest.mark.parametrize("seeded", [True, False])
def test_temperature_zero_is_argmax(impl, device, shape, seeded):
    logits = torch.randn(shape, generator=generator(4)).to(device) * 3
    before = logits.clone()
    g = generator(10, device) if seeded else None
    try:
        out = impl.sample(logits, temperature=0.0, generator=g)
    except (RuntimeError, ValueError, ZeroDivisionError) as exc:
        raise AssertionError(
            f"sample(logits, temperature=0) raised {type(exc).__name__}: {exc}\nlikely bug: "
            "temperature 0 must return the argmax (greedy decoding); dividing by 0 gives "
            "inf and nan, so handle it before the division"
        ) from None
    assert_unchanged(before, logits, "logits")
    check_output(out, logits, "sample(temperature=0)", f"logits of shape {shape}")
    expected = logits.argmax(-1)
    assert torch.equal(out.cpu(), expected.cpu()), (
        f"sample(logits, temperature=0) [logits of shape {shape}]: temperature 0 must return "
        f"the argmax over the last dim; got {out.flatten().tolist()[:8]}, expected "
        f"{expected.flatten().tolist()[:8]}"
    )


def test_seeding(impl, device):
    logits = repeated(rows(3, 12, seed=5), 400, device)
    assert_seeding(
        lambda g: call(impl.sample, logits, temperature=1.0, generator=g),
        logits,
        "sample",
    )


@pytest.mark.parametrize(
    "shift,scale,temperature,what",
    [
        (1000.0, 1.5, 1.0, "all logits + 1000"),
        (0.0, 40.0, 0.5, "logits ~ N(0, 40^2) at temperature 0.5"),
        (0.0, 2.0, 0.02, "logits ~ N(0, 2^2) at temperature 0.02"),
    ],
)
def test_large_logits_stay_finite(impl, device, shift, scale, temperature, what):
    base = rows(3, 8, seed=13, scale=scale) + shift
    n = 2000
    logits = repeated(base, n, device)
    try:
        out = draw(impl, logits, temperature, 14, device)
    except (RuntimeError, ValueError) as exc:
        raise AssertionError(
            f"sample raised on {what}: {exc}\nlikely bug: exp of large logits overflowed to "
            "inf (inf / inf = nan): subtract the max before exp (torch.softmax does)"
        ) from None
    check_output(out, logits, "sample", what)
    assert_distribution(
        out, probs_at(base, temperature), what, variants_for(base, temperature)
    )


def test_float64_logits(impl, device):
    base = rows(3, 9, seed=15)
    logits = repeated(base, 2000, device, torch.float64)
    out = draw(impl, logits, 1.7, 16, device)
    check_output(out, logits, "sample", "float64 logits")
    assert_distribution(
        out,
        probs_at(base, 1.7),
        "float64 logits, temperature=1.7",
        variants_for(base, 1.7),
    )
