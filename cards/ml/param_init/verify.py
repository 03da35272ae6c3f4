"""Verifier for xavier_uniform_ and kaiming_normal_, against torch.nn.init's fan and gain rules.

- Exactly: filled with the same seed, every configuration is the same draws scaled, so the
  ratio of two fills (float64) must equal the ratio of torch's bounds / stds: gains (including
  leaky_relu with a = 0, i.e. slope 0), gain arguments, and fan_in against fan_out for Linear and
  conv weights. Xavier's bound is checked from the sample maximum too.
- Statistically: pooled fills follow U(-a, a) / N(0, std²) with torch's a and std (chi-square on
  ten equiprobable bins; a correct fill fails less than once in a million runs).
- In place under no-grad, the same object returned, nn.Parameter accepted, ValueError below two
  dims, every draw from the generator (same seed, same values; the global RNG untouched)."""

import math

import pytest
import torch

from cards.checks import call
from cards.sampling import ALPHA, chi_square_pvalue

SHAPES = {
    "linear (40, 70)": (40, 70),
    "conv2d (16, 6, 3, 5)": (16, 6, 3, 5),
    "conv1d (12, 10, 7)": (12, 10, 7),
    "conv3d (9, 5, 2, 3, 4)": (9, 5, 2, 3, 4),
}


def torch_fans(shape):
    rf = math.prod(shape[2:])
    return shape[1] * rf, shape[0] * rf


def torch_gain(nonlinearity, a):
    return torch.nn.init.calculate_gain(nonlinearity, a)


def xavier_bound(shape, gain=1.0):
    fi, fo = torch_fans(shape)
    return gain * math.sqrt(6.0 / (fi + fo))


def kaiming_std(shape, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    fi, fo = torch_fans(shape)
    return torch_gain(nonlinearity, a) / math.sqrt(fi if mode == "fan_in" else fo)


def gen(seed, device):
    return torch.Generator(device=device).manual_seed(seed)


def fill(fn, shape, device, seed, dtype=torch.float64, **kwargs):
    t = torch.empty(shape, device=device, dtype=dtype)
    out = call(fn, t, generator=gen(seed, device), **kwargs)
    assert out is t, (
        f"{fn.__name__} must fill the tensor passed in, in place, and return that same tensor"
    )
    return t


def _uniform_pvalue(values, bound):
    counts = torch.histc(values.clamp(-bound, bound), bins=10, min=-bound, max=bound)
    return chi_square_pvalue(counts, torch.full((10,), 0.1, dtype=torch.float64))


def _normal_pvalue(values, std):
    q = torch.special.ndtri(torch.arange(1, 10, dtype=torch.float64) / 10) * std
    idx = torch.bucketize(values, q)
    counts = torch.bincount(idx, minlength=10)
    return chi_square_pvalue(counts, torch.full((10,), 0.1, dtype=torch.float64))


def _fan_variants(shape):
    """{a mistake in the user's words: (fan_in, fan_out) it uses}."""
    fi, fo = torch_fans(shape)
    out = {
        "fan_in and fan_out are swapped: fan_in is size(1) * receptive field (the inputs "
        "each output sees), fan_out is size(0) * receptive field": (fo, fi),
    }
    if len(shape) > 2:
        out[
            "the receptive field was left out of the fans: for a conv weight (out, in, *kernel) "
            "fan_in = in * prod(kernel), fan_out = out * prod(kernel)"
        ] = (shape[1], shape[0])
    return out


@pytest.mark.parametrize("name", list(SHAPES))
def test_xavier_distribution(impl, device, name):
    shape = SHAPES[name]
    values = torch.cat(
        [fill(impl.xavier_uniform_, shape, device, s).flatten().cpu() for s in range(8)]
    )
    bound = xavier_bound(shape)
    n = values.numel()
    top = values.abs().max().item()
    ok_max = bound * (1 - 25 / n) < top <= bound * (1 + 1e-6)
    p = _uniform_pvalue(values, bound)
    if ok_max and p >= ALPHA:
        return
    found = []
    for why, (fi, fo) in _fan_variants(shape).items():
        b = math.sqrt(6.0 / (fi + fo))
        if abs(b - bound) > 1e-9 * bound and abs(top - b) < 25 * b / n + 1e-9:
            found.append(why)
    if abs(top - math.sqrt(2.0 / sum(torch_fans(shape)))) < 1e-3 * top:
        found.append(
            "the bound is gain * sqrt(2 / (fan_in + fan_out)), Xavier's std: the uniform "
            "bound is std * sqrt(3) = gain * sqrt(6 / (fan_in + fan_out))"
        )
    raise AssertionError(
        f"xavier_uniform_ on {name}: expected U(-{bound:.5g}, {bound:.5g}) (fan_in, fan_out = "
        f"{torch_fans(shape)}); the largest |value| of {n} draws is {top:.5g}, uniformity "
        f"p-value {p:.2g}" + "".join(f"\nlikely bug: {w}" for w in found)
    )


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("name", list(SHAPES))
def test_kaiming_distribution(impl, device, name, mode):
    shape = SHAPES[name]
    values = torch.cat(
        [
            fill(impl.kaiming_normal_, shape, device, s, mode=mode, nonlinearity="relu")
            .flatten()
            .cpu()
            for s in range(8)
        ]
    )
    std = kaiming_std(shape, mode=mode, nonlinearity="relu")
    p = _normal_pvalue(values, std)
    if p >= ALPHA:
        return
    found = []
    for why, (fi, fo) in _fan_variants(shape).items():
        s = math.sqrt(2.0) / math.sqrt(fi if mode == "fan_in" else fo)
        if abs(s - std) > 1e-9 * std and _normal_pvalue(values, s) > 1e-6:
            found.append(why)
    raise AssertionError(
        f"kaiming_normal_(mode={mode!r}, nonlinearity='relu') on {name}: the values do not "
        f"follow N(0, {std:.5g}²) (fan_in, fan_out = {torch_fans(shape)}; chi-square p-value "
        f"{p:.2g}, sample std {values.std().item():.5g})"
        + "".join(f"\nlikely bug: {w}" for w in found)
    )


def _assert_ratio(got, base, ratio, what, variants=None):
    """got == ratio * base elementwise, to rounding (the same draws, scaled); on failure, names
    the mistakes in `variants` ({why: the ratio it gives}) whose ratio the values fit."""
    scale = base.abs().max().item() * abs(ratio)
    err = (got - ratio * base).abs().max().item()
    if err <= 1e-6 * scale:
        return
    measured = (got * base).sum().item() / (base * base).sum().item()
    found = [
        why
        for why, r in (variants or {}).items()
        if abs(r - ratio) > 1e-6 * abs(ratio)
        and (got - r * base).abs().max().item()
        <= 1e-6 * base.abs().max().item() * abs(r)
    ]
    raise AssertionError(
        f"{what}: with the same generator seed the values should be those of the reference "
        f"configuration times {ratio:.8g} (torch's gain and fan rules), got about "
        f"{measured:.8g} times" + "".join(f"\nlikely bug: {w}" for w in found)
    )


def _kaiming_variants(shape, kwargs, base_std):
    """{a mistake in the user's words: the ratio to the 'linear' fill it would give}."""
    a = kwargs.get("a", 0)
    mode = kwargs.get("mode", "fan_in")
    nl = kwargs.get("nonlinearity", "leaky_relu")
    fi, fo = torch_fans(shape)
    fan = fi if mode == "fan_in" else fo
    gain = torch_gain(nl, a)
    out = {}
    if nl == "leaky_relu" and a == 0:
        out[
            "a = 0 was taken as the default slope 0.01: a is the negative slope itself, and "
            "a = 0 means slope 0 (gain sqrt(2))"
        ] = math.sqrt(2.0 / (1 + 0.01**2)) / math.sqrt(fan) / base_std
    if nl == "leaky_relu" and a != 0:
        out["leaky_relu's gain ignores a: it is sqrt(2 / (1 + a²))"] = (
            math.sqrt(2.0) / math.sqrt(fan) / base_std
        )
    if fi != fo:
        other = fo if mode == "fan_in" else fi
        out[
            f"mode={mode!r} used the other fan: fan_in is size(1) * receptive field, fan_out "
            "size(0) * receptive field"
        ] = gain / math.sqrt(other) / base_std
    return out


KAIMING_CONFIGS = [
    ({}, "defaults (a=0, fan_in, leaky_relu): gain sqrt(2 / (1 + 0²)) = sqrt(2)"),
    ({"nonlinearity": "relu"}, "relu: gain sqrt(2)"),
    ({"nonlinearity": "leaky_relu", "a": 0.2}, "leaky_relu with a=0.2"),
    ({"nonlinearity": "leaky_relu", "a": 0}, "leaky_relu with a=0 (slope 0, not 0.01)"),
    ({"nonlinearity": "tanh"}, "tanh: gain 5/3"),
    ({"nonlinearity": "sigmoid"}, "sigmoid: gain 1"),
    ({"nonlinearity": "conv2d"}, "conv2d: gain 1"),
    ({"nonlinearity": "selu"}, "selu: gain 3/4"),
    ({"mode": "fan_out", "nonlinearity": "linear"}, "mode='fan_out'"),
    ({"mode": "fan_out", "nonlinearity": "leaky_relu", "a": 0.5}, "fan_out, a=0.5"),
]


@pytest.mark.parametrize("name", ["linear (40, 70)", "conv2d (16, 6, 3, 5)"])
def test_kaiming_gain_and_fan_exact(impl, device, name):
    shape = SHAPES[name]
    base = fill(impl.kaiming_normal_, shape, device, 7, nonlinearity="linear")
    base_std = kaiming_std(shape, nonlinearity="linear")
    for kwargs, label in KAIMING_CONFIGS:
        got = fill(impl.kaiming_normal_, shape, device, 7, **kwargs)
        ratio = kaiming_std(shape, **kwargs) / base_std
        _assert_ratio(
            got,
            base,
            ratio,
            f"kaiming_normal_({label}) on {name}, against 'linear'",
            _kaiming_variants(shape, kwargs, base_std),
        )


@pytest.mark.parametrize("name", ["linear (40, 70)", "conv1d (12, 10, 7)"])
def test_xavier_gain_exact(impl, device, name):
    shape = SHAPES[name]
    base = fill(impl.xavier_uniform_, shape, device, 3)
    for gain in (2.5, 0.3, 5.0 / 3):
        got = fill(impl.xavier_uniform_, shape, device, 3, gain=gain)
        _assert_ratio(got, base, gain, f"xavier_uniform_(gain={gain:.4g}) on {name}")


@pytest.mark.parametrize("fn", ["xavier_uniform_", "kaiming_normal_"])
def test_generator_is_the_only_source(impl, device, fn):
    f = getattr(impl, fn)
    shape = (24, 18)
    cpu_state = torch.get_rng_state()
    cuda_state = torch.cuda.get_rng_state() if device == "cuda" else None
    a = fill(f, shape, device, 11, dtype=torch.float32)
    b = fill(f, shape, device, 11, dtype=torch.float32)
    c = fill(f, shape, device, 12, dtype=torch.float32)
    assert torch.equal(a, b), (
        f"{fn}: two fills with generators seeded alike gave different values: draw every "
        "value from `generator`"
    )
    assert not torch.equal(a, c), (
        f"{fn}: generators seeded 11 and 12 gave the same values: draw from `generator`"
    )
    assert torch.equal(torch.get_rng_state(), cpu_state), (
        f"{fn}: the global RNG moved: with a generator given, draw only from it (pass "
        "generator= to the sampling call)"
    )
    if cuda_state is not None:
        assert torch.equal(torch.cuda.get_rng_state(), cuda_state), (
            f"{fn}: the global CUDA RNG moved: draw only from `generator`"
        )
    torch.manual_seed(3)
    d = call(f, torch.empty(shape, device=device))
    torch.manual_seed(3)
    e = call(f, torch.empty(shape, device=device))
    assert torch.equal(d, e), f"{fn}: generator=None must draw from torch's global RNG"


@pytest.mark.parametrize("fn", ["xavier_uniform_", "kaiming_normal_"])
def test_parameter_in_place_without_history(impl, device, fn):
    f = getattr(impl, fn)
    param = torch.nn.Parameter(torch.zeros(10, 6, 3, device=device))
    ptr = param.data_ptr()
    try:
        out = call(f, param, generator=gen(1, device))
    except RuntimeError as exc:
        if "leaf Variable" in str(exc) or "requires grad" in str(exc):
            raise AssertionError(
                f"{fn} on an nn.Parameter: {exc}\nfill it under torch.no_grad() (an in-place "
                "write to a leaf that requires grad is refused otherwise)"
            ) from None
        raise
    assert out is param, f"{fn} must return the tensor passed in (here an nn.Parameter)"
    assert param.data_ptr() == ptr and (param != 0).any(), (
        f"{fn}: the parameter's own storage was not filled in place"
    )
    assert param.requires_grad and param.is_leaf and param.grad_fn is None, (
        f"{fn}: the parameter must stay a leaf that requires grad, with no autograd history "
        "(fill it under torch.no_grad())"
    )


@pytest.mark.parametrize("fn", ["xavier_uniform_", "kaiming_normal_"])
@pytest.mark.parametrize("shape", [(7,), ()], ids=["1-d", "0-d"])
def test_fewer_than_two_dims_raise_value_error(impl, device, fn, shape):
    f = getattr(impl, fn)
    t = torch.zeros(shape, device=device)
    try:
        f(t, generator=gen(0, device))
    except ValueError:
        return
    except Exception as exc:  # noqa: BLE001 - named in the message
        raise AssertionError(
            f"{fn} on a tensor of shape {shape}: expected ValueError (fans need at least 2 "
            f"dims), got {type(exc).__name__}: {exc}"
        ) from None
    raise AssertionError(
        f"{fn} on a tensor of shape {shape}: expected ValueError (fan in and fan out need at "
        "least 2 dims), nothing was raised"
    )
