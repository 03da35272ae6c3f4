"""Verifier for Dropout: eval mode and p = 0 are the identity, p = 1 gives zeros (no NaN), every
output element is either 0 or x / (1 - p) (the scale checked to rounding), the gradient is the
same mask times 1 / (1 - p), and statistically (bounds a correct dropout misses less than once in
a million runs): the keep rate is 1 - p, elements are independent (not one mask per row or per
feature), each call draws a new mask, and the draws come from torch's default generator (seeded
by torch.manual_seed)."""

import pytest
import torch

from cards.checks import assert_unchanged, call, generator, tolerance


def make(impl, p, train=True):
    module = call(impl.Dropout, p, what="Dropout")
    assert isinstance(module, torch.nn.Module), "Dropout must be an nn.Module"
    return module.train(train)


def _x(shape, seed, device, dtype=torch.float32):
    """Values with |x| in [0.5, 2.5]: never 0, so a dropped element is told from a kept one."""
    g = generator(seed)
    mag = torch.rand(shape, generator=g, dtype=torch.float64) * 2 + 0.5
    sign = torch.randint(0, 2, shape, generator=g) * 2 - 1
    return (mag * sign).to(device=device, dtype=dtype)


def _check_basic(out, x, what):
    assert isinstance(out, torch.Tensor), f"{what}: expected a tensor"
    assert out.shape == x.shape, (
        f"{what}: shape expected {tuple(x.shape)}, got {tuple(out.shape)}"
    )
    assert out.dtype == x.dtype, f"{what}: dtype expected {x.dtype}, got {out.dtype}"
    assert out.device.type == x.device.type, (
        f"{what}: device expected {x.device.type}, got {out.device.type}"
    )


def _kept(out, x, p, what):
    """The boolean mask of kept elements, after checking each is 0 or x / (1 - p)."""
    _check_basic(out, x, what)
    o = out.detach().double().cpu()
    xd = x.detach().double().cpu()
    assert torch.isfinite(o).all(), f"{what}: the output has NaN or inf values"
    _, rtol = tolerance(x.dtype) if x.dtype != torch.float32 else (0, 1e-6)
    scaled = xd / (1 - p)
    kept = o != 0
    good = torch.isclose(o, scaled, rtol=rtol, atol=0)
    wrong = kept & ~good
    if wrong.any():
        i = tuple(int(v) for v in wrong.nonzero()[0])
        ratio = (o[kept] / xd[kept]).mean().item()
        why = ""
        for name, factor in (
            ("the kept values were not scaled: multiply them by 1 / (1 - p)", 1.0),
            ("the kept values were multiplied by (1 - p): divide by it", 1 - p),
            (
                "the kept values were scaled by 1 / p: the keep probability is 1 - p",
                1 / p,
            ),
        ):
            if abs(ratio - factor) < 1e-3 * factor and abs(factor - 1 / (1 - p)) > 1e-3:
                why = f"\nlikely bug: {name}"
        raise AssertionError(
            f"{what}: a kept element must equal x / (1 - p) = x * {1 / (1 - p):.6g}; at index "
            f"{i} got {o[i].item():.6g} for x = {xd[i].item():.6g} (mean ratio output / x "
            f"over kept elements: {ratio:.6g}){why}"
        )
    return kept


@pytest.mark.parametrize("p", [0.5, 0.2, 1.0])
def test_eval_mode_is_identity(impl, device, p):
    module = make(impl, p, train=False)
    x = _x((4, 33), 1, device)
    out = module(x)
    _check_basic(out, x, f"eval mode, p={p}")
    assert torch.equal(out, x), (
        f"eval mode, p={p}: the output must equal the input (dropout only in training, with "
        "no rescaling in eval: that is what the 1 / (1 - p) in training is for)"
    )


def test_p0_returns_input(impl, device):
    x = _x((5, 17), 2, device)
    out = make(impl, 0.0)(x)
    _check_basic(out, x, "p=0, training")
    assert torch.equal(out, x), (
        "p=0 in training: nothing is dropped, the output equals x"
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_p1_returns_zeros_without_nan(impl, device, dtype):
    x = _x((6, 20), 3, device, dtype)
    out = make(impl, 1.0)(x)
    _check_basic(out, x, "p=1, training")
    assert not torch.isnan(out).any(), (
        "p=1: the output has NaN: x * 0 / (1 - p) divides by zero; p = 1 must return zeros"
    )
    assert (out == 0).all(), (
        "p=1: every element is dropped, the output must be all zeros"
    )


@pytest.mark.parametrize("p", [0.5, 0.3, 0.8])
@pytest.mark.parametrize(
    "dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16]
)
def test_kept_values_are_scaled_exactly(impl, device, p, dtype):
    torch.manual_seed(11)
    x = _x((8, 3, 41), 4, device, dtype)
    before = x.clone()
    out = make(impl, p)(x)
    assert_unchanged(before, x, "x")
    kept = _kept(out, x, p, f"p={p}, {dtype}")
    assert 0 < kept.sum() < kept.numel(), f"p={p}: expected some kept and some dropped"


def test_non_contiguous_input(impl, device):
    torch.manual_seed(12)
    x = _x((40, 30), 5, device).t()
    _kept(make(impl, 0.4)(x), x, 0.4, "a transposed (non-contiguous) input")


def _sd_bound(n, q):
    return 6 * (n * q * (1 - q)) ** 0.5


@pytest.mark.parametrize("p", [0.3, 0.75])
def test_keep_rate_and_independence(impl, device, p):
    torch.manual_seed(21)
    R, F = 400, 500
    x = _x((R, F), 6, device)
    kept = _kept(make(impl, p)(x), x, p, f"p={p}")
    rows_same = bool((kept == kept[:1]).all())
    cols_same = bool((kept == kept[:, :1]).all())
    assert not rows_same, (
        f"p={p}: every row got the same mask: draw one value per element, not one mask "
        "broadcast over the batch"
    )
    assert not cols_same, (
        f"p={p}: each row is kept or dropped whole: draw one value per element, not one per "
        "row"
    )
    q = 1 - p
    n = kept.numel()
    count = int(kept.sum())
    why = (
        "\nlikely bug: p was used as the probability of keeping an element: p is the "
        "probability of zeroing it"
        if abs(count - n * p) < _sd_bound(n, p)
        else ""
    )
    assert abs(count - n * q) < _sd_bound(n, q), (
        f"p={p}: {count / n:.4f} of the elements were kept, expected {q} (each is zeroed "
        f"independently with probability p){why}"
    )
    # adjacent pairs, both kept: about q^2 of them if elements are independent
    for name, a, b in (
        ("along a row", kept[:, :-1], kept[:, 1:]),
        ("down a column", kept[:-1], kept[1:]),
    ):
        pairs = a.numel()
        both = int((a & b).sum())
        bound = 2 * _sd_bound(pairs, q * q)  # overlapping pairs: a wider bound
        assert abs(both - pairs * q * q) < bound, (
            f"p={p}: neighbouring elements {name} are both kept {both / pairs:.4f} of the "
            f"time, expected {q * q:.4f}: the masks of different elements must be independent"
        )


def test_new_mask_every_call(impl, device):
    torch.manual_seed(31)
    module = make(impl, 0.5)
    x = _x((16, 64), 7, device)
    a = _kept(module(x), x, 0.5, "first call")
    b = _kept(module(x), x, 0.5, "second call")
    assert not torch.equal(a, b), (
        "two calls gave the same mask: draw a new one at every forward (not once in __init__)"
    )


def test_draws_come_from_torch_default_generator(impl, device):
    module = make(impl, 0.5)
    x = _x((16, 64), 8, device)
    torch.manual_seed(5)
    a = _kept(module(x), x, 0.5, "after torch.manual_seed(5)")
    torch.manual_seed(5)
    b = _kept(module(x), x, 0.5, "after torch.manual_seed(5) again")
    torch.manual_seed(6)
    c = _kept(module(x), x, 0.5, "after torch.manual_seed(6)")
    assert torch.equal(a, b), (
        "the same torch.manual_seed gave different masks: draw from torch's default "
        "generator (torch.rand / torch.bernoulli without a generator of your own)"
    )
    assert not torch.equal(a, c), (
        "torch.manual_seed(5) and torch.manual_seed(6) gave the same mask: the draws must come "
        "from torch's default generator, not a generator seeded by the module"
    )


def test_gradient_is_the_mask_scaled(impl, device):
    torch.manual_seed(41)
    p = 0.4
    x = _x((12, 25), 9, device, torch.float64).requires_grad_()
    out = make(impl, p)(x)
    kept = _kept(out, x, p, "float64 input with requires_grad")
    assert out.requires_grad, "the output is detached: gradients must reach x"
    up = _x((12, 25), 10, device, torch.float64)
    (out * up).sum().backward()
    want = (kept.to(device) * up / (1 - p)).detach()
    assert x.grad is not None, "no gradient reached x"
    assert torch.allclose(x.grad, want, rtol=1e-9, atol=0), (
        "the gradient of x must be upstream * mask / (1 - p), with the mask of the forward pass"
    )
