"""Verifier for the KL card: F.kl_div (log_target=True) on float64 log-probabilities for the
categorical KL, torch.distributions' Normal KL for the Gaussian. References are computed in
float64 from the very same inputs. (The distillation loss has its own card,
knowledge_distillation.)"""

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal
from torch.distributions import kl_divergence as _torch_kl

from cards.checks import (
    assert_close,
    assert_tensor,
    assert_unchanged,
    diagnose,
    generator,
    tolerance,
)

SHAPES = [(13,), (1, 11), (5, 13), (3, 7, 33)]
TEMPERATURES = [1.0, 2.0, 0.5]


# -- float64 references ---------------------------------------------------------------------
def _ref_kl(p_logits, q_logits, temperature=1.0, q_temperature=None):
    """KL(P||Q): sum over the last dim, mean over every other position. (q_temperature: hints only.)"""
    c = p_logits.shape[-1]
    q_temperature = temperature if q_temperature is None else q_temperature
    log_p = F.log_softmax(p_logits.double().reshape(-1, c) / temperature, dim=-1)
    log_q = F.log_softmax(q_logits.double().reshape(-1, c) / q_temperature, dim=-1)
    # F.kl_div(input=log Q, target=log P) computes sum P (log P - log Q).
    return F.kl_div(log_q, log_p, reduction="batchmean", log_target=True)


def _ref_gaussian(mu_p, logvar_p, mu_q, logvar_q):
    p = Normal(mu_p.double(), (0.5 * logvar_p.double()).exp())
    q = Normal(mu_q.double(), (0.5 * logvar_q.double()).exp())
    return _torch_kl(p, q).sum(dim=-1)


# -- helpers ---------------------------------------------------------------------------------
def _logits(shape, seed, device, dtype=torch.float32, scale=2.0):
    return (
        torch.randn(shape, generator=generator(seed), dtype=torch.float64) * scale
    ).to(device=device, dtype=dtype)


def _check(actual, expected, dtype, *, what, context, hints=None, atol=None, rtol=None):
    """assert_close against expected (cast to dtype); on failure, name the known bugs it matches.
    `hints` is a callable returning (description, wrong value) pairs, only evaluated on failure."""
    default_atol, default_rtol = tolerance(dtype)
    atol = default_atol if atol is None else atol
    rtol = default_rtol if rtol is None else rtol
    try:
        assert_close(
            actual, expected.to(dtype), what=what, context=context, atol=atol, rtol=rtol
        )
    except AssertionError as exc:
        words = diagnose(actual, expected, hints() if hints else [], atol, rtol)
        raise AssertionError(f"{exc}{words}") from None


def _kl(impl, p, q, **kwargs):
    """impl.kl_divergence, with p and q checked unchanged afterwards: the expected value,
    computed from them next, is then the original logits'."""
    before = p.detach().clone(), q.detach().clone()
    out = impl.kl_divergence(p, q, **kwargs)
    temperature = kwargs.get("temperature", 1.0)
    _unchanged(before[0], p, "p_logits", temperature)
    _unchanged(before[1], q, "q_logits", temperature)
    return out


def _unchanged(before, after, name, temperature):
    """assert_unchanged; names an in-place division by the temperature."""
    try:
        assert_unchanged(before, after, name)
    except AssertionError as exc:
        words = ""
        if temperature != 1.0 and torch.allclose(
            after.detach().double(), before.double() / temperature, rtol=1e-6
        ):
            words = (
                f"\nlikely bug (`{name}` now holds {name} / temperature): it was divided by "
                f"the temperature in place (`/=` or div_); write `{name} / temperature`, "
                "which makes a new tensor"
            )
        raise AssertionError(f"{exc}{words}") from None


def _naive_kl(p, q, temperature, *, no_max=False):
    """KL the naive way, in the inputs' own precision: log(softmax(x)), or with `no_max` a
    softmax by hand without subtracting the max. Where probabilities underflow to 0 or exp
    overflows, this is what gives nan or inf."""
    c = p.shape[-1]

    def log_probs(x):
        z = x.detach().cpu().reshape(-1, c) / temperature
        if no_max:
            e = z.exp()
            return (e / e.sum(-1, keepdim=True)).log()
        return F.softmax(z, dim=-1).log()

    lp, lq = log_probs(p), log_probs(q)
    return (lp.exp() * (lp - lq)).sum(-1).mean().to(p.device)


def _stability_hints(p, q, t):
    return [
        (
            (
                "log(softmax(x)): a probability that underflows to exactly 0 gives log(0) = "
                "-inf and 0 * -inf = nan; work in log space with log_softmax (or x - "
                "logsumexp(x))"
            ),
            _naive_kl(p, q, t),
        ),
        (
            (
                "exp(logits) without subtracting the max first overflows to inf (inf / inf "
                "= nan); use log_softmax / logsumexp, which subtract the max"
            ),
            _naive_kl(p, q, t, no_max=True),
        ),
    ]


def _kl_hints(p, q, t):
    c = p.shape[-1]
    positions = p.numel() // c
    right = _ref_kl(p, q, t)
    hints = [
        (
            "KL(Q||P): the arguments are the wrong way round; the expectation is under P = softmax(p_logits)",
            _ref_kl(q, p, t),
        ),
        (
            "a mean over every element (divided by C too); average over positions only, like 'batchmean'",
            right / c,
        ),
    ]
    if positions > 1:
        hints.append(
            (
                "a sum over positions; average the per-position KL over them",
                right * positions,
            )
        )
    if p.dim() != 2:
        hints.append(
            (
                "a division by the first dim only; average over all positions (B*T for (B, T, C))",
                right * positions / p.shape[0],
            )
        )
    hints += _stability_hints(p, q, t)
    if t != 1.0:
        hints += [
            (
                "the KL without the temperature; divide both logits by T",
                _ref_kl(p, q, 1.0),
            ),
            (
                "the temperature applied to p_logits only; divide both logits by T",
                _ref_kl(p, q, t, 1.0),
            ),
            (
                "the temperature applied to q_logits only; divide both logits by T",
                _ref_kl(p, q, 1.0, t),
            ),
        ]
    return hints


# -- kl_divergence ---------------------------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("temperature", TEMPERATURES)
@pytest.mark.parametrize("seed", [0, 1])
def test_kl_matches_torch(impl, device, shape, temperature, seed):
    p = _logits(shape, 2 * seed, device)
    q = _logits(shape, 2 * seed + 1, device)
    p0, q0 = p.clone(), q.clone()
    out = _kl(impl, p, q, temperature=temperature)
    _unchanged(p0, p, "p_logits", temperature)
    _unchanged(q0, q, "q_logits", temperature)
    _check(
        out,
        _ref_kl(p, q, temperature),
        torch.float32,
        what="kl_divergence",
        context=f"logits of shape {shape}, temperature={temperature}",
        hints=lambda: _kl_hints(p, q, temperature),
    )


def test_kl_default_temperature_is_1(impl, device):
    p, q = _logits((4, 9), 10, device), _logits((4, 9), 11, device)
    _check(
        _kl(impl, p, q),
        _ref_kl(p, q, 1.0),
        torch.float32,
        what="kl_divergence(p, q)",
        context="default temperature",
        hints=lambda: _kl_hints(p, q, 1.0),
    )


def test_kl_direction(impl, device):
    # A peaked P against a flat Q: KL(P||Q) and KL(Q||P) differ by far more than any tolerance.
    p = _logits((6, 17), 12, device, scale=4.0)
    q = _logits((6, 17), 13, device, scale=0.5)
    forward, backward = _ref_kl(p, q), _ref_kl(q, p)
    assert (forward - backward).abs() > 0.1, (
        "test setup: the two directions should differ"
    )
    _check(
        _kl(impl, p, q),
        forward,
        torch.float32,
        what="kl_divergence(p_logits, q_logits)",
        context="peaked P, flat Q",
        hints=lambda: _kl_hints(p, q, 1.0),
    )


def test_kl_of_identical_distributions_is_zero(impl, device):
    p = _logits((3, 5, 21), 14, device)
    out = _kl(impl, p, p.clone(), temperature=2.0)
    _check(
        out,
        torch.zeros((), dtype=torch.float64, device=device),
        torch.float32,
        what="kl_divergence(x, x)",
        context="P == Q",
    )


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_kl_large_logits_stay_finite(impl, device, temperature):
    # Logits x 100: most probabilities underflow to exactly 0 in float32; log(softmax) gives -inf.
    p = _logits((4, 13), 15, device, scale=100.0)
    q = _logits((4, 13), 16, device, scale=100.0)
    _check(
        _kl(impl, p, q, temperature=temperature),
        _ref_kl(p, q, temperature),
        torch.float32,
        what="kl_divergence",
        context=f"logits ~ N(0, 100^2), temperature={temperature}: some probabilities "
        "underflow to 0 in float32",
        hints=lambda: _kl_hints(p, q, temperature),
        rtol=1e-3,
        atol=1e-3,
    )


def test_kl_offset_logits_stay_finite(impl, device):
    # All logits + 1000: exp overflows to inf unless the max is subtracted first.
    p = _logits((2, 5, 19), 17, device) + 1000.0
    q = _logits((2, 5, 19), 18, device) + 1000.0
    _check(
        _kl(impl, p, q, temperature=1.0),
        _ref_kl(p, q, 1.0),
        torch.float32,
        what="kl_divergence",
        context="all logits + 1000: exp(logits) overflows float32",
        hints=lambda: _kl_hints(p, q, 1.0),
        rtol=1e-3,
        atol=1e-3,
    )


def test_kl_float64(impl, device):
    p = _logits((3, 4, 29), 19, device, torch.float64)
    q = _logits((3, 4, 29), 20, device, torch.float64)
    _check(
        _kl(impl, p, q, temperature=2.0),
        _ref_kl(p, q, 2.0),
        torch.float64,
        what="kl_divergence",
        context="float64 logits, temperature=2",
        hints=lambda: _kl_hints(p, q, 2.0),
    )


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_kl_gradient_wrt_q_logits(impl, device, temperature):
    p = _logits((2, 3, 15), 21, device)
    q = _logits((2, 3, 15), 22, device).requires_grad_()
    q64 = q.detach().double().requires_grad_()
    out = _kl(impl, p, q, temperature=temperature)
    assert_tensor(out, "kl_divergence")
    assert out.requires_grad, (
        "kl_divergence: no gradient reaches q_logits (is the result detached?)"
    )
    out.backward()
    _ref_kl(p, q64, temperature).backward()
    assert q.grad is not None, "no gradient reached q_logits"
    assert_close(
        q.grad,
        q64.grad.float(),
        what="gradient of kl_divergence w.r.t. q_logits",
        context=f"temperature={temperature}",
        atol=1e-6,
        rtol=1e-4,
    )


# -- gaussian_kl -----------------------------------------------------------------------------
def _gaussians(shape, seed, device, dtype=torch.float32):
    g = generator(seed)
    mu_p, mu_q = (
        torch.randn(shape, generator=g, dtype=torch.float64),
        torch.randn(shape, generator=g, dtype=torch.float64) * 2,
    )
    logvar_p = torch.randn(shape, generator=g, dtype=torch.float64) * 1.5
    logvar_q = torch.randn(shape, generator=g, dtype=torch.float64) * 1.5
    return [t.to(device=device, dtype=dtype) for t in (mu_p, logvar_p, mu_q, logvar_q)]


def _gaussian_hints(mu_p, logvar_p, mu_q, logvar_q):
    return [
        (
            "KL(N_q||N_p): the Gaussians are the wrong way round",
            _ref_gaussian(mu_q, logvar_q, mu_p, logvar_p),
        ),
        (
            "treating the log-variances as log standard deviations; the inputs are log sigma^2",
            _ref_gaussian(mu_p, 2 * logvar_p, mu_q, 2 * logvar_q),
        ),
        (
            "the KL without the factor 1/2",
            2 * _ref_gaussian(mu_p, logvar_p, mu_q, logvar_q),
        ),
    ]


@pytest.mark.parametrize("shape", [(9,), (1, 7), (5, 11), (2, 3, 17)])
@pytest.mark.parametrize("seed", [0, 1])
def test_gaussian_kl_matches_torch(impl, device, shape, seed):
    args = _gaussians(shape, 30 + seed, device)
    before = [a.clone() for a in args]
    out = impl.gaussian_kl(*args)
    for b, a, name in zip(before, args, ["mu_p", "logvar_p", "mu_q", "logvar_q"]):
        assert_unchanged(b, a, name)
    _check(
        out,
        _ref_gaussian(*args),
        torch.float32,
        what="gaussian_kl",
        context=f"inputs of shape {shape}, result shape {shape[:-1]}",
        hints=lambda: _gaussian_hints(*args),
        rtol=2e-4,
    )


def test_gaussian_kl_vae_standard_normal_prior(impl, device):
    # The VAE term: posterior N(mu, sigma^2) against the prior N(0, 1).
    mu, logvar, _, _ = _gaussians((8, 16), 40, device)
    zeros = torch.zeros_like(mu)
    _check(
        impl.gaussian_kl(mu, logvar, zeros, zeros),
        _ref_gaussian(mu, logvar, zeros, zeros),
        torch.float32,
        what="gaussian_kl(mu, logvar, 0, 0)",
        context="standard-normal prior",
        rtol=2e-4,
        hints=lambda: _gaussian_hints(mu, logvar, zeros, zeros),
    )


def test_gaussian_kl_of_identical_gaussians_is_zero(impl, device):
    mu, logvar, _, _ = _gaussians((4, 10), 41, device)
    _check(
        impl.gaussian_kl(mu, logvar, mu.clone(), logvar.clone()),
        torch.zeros(4, dtype=torch.float64, device=device),
        torch.float32,
        what="gaussian_kl(x, x)",
        context="N_p == N_q",
    )


def test_gaussian_kl_float64(impl, device):
    args = _gaussians((3, 12), 42, device, torch.float64)
    _check(
        impl.gaussian_kl(*args),
        _ref_gaussian(*args),
        torch.float64,
        what="gaussian_kl",
        context="float64 inputs",
        hints=lambda: _gaussian_hints(*args),
    )


def test_gaussian_kl_gradients(impl, device):
    args = [a.requires_grad_() for a in _gaussians((3, 8), 43, device)]
    args64 = [a.detach().double().requires_grad_() for a in args]
    out = impl.gaussian_kl(*args)
    assert_tensor(out, "gaussian_kl")
    assert out.requires_grad, (
        "gaussian_kl: no gradient reaches the inputs (is the result detached?)"
    )
    upstream = torch.randn(3, generator=generator(44)).to(device)
    (out * upstream).sum().backward()
    (_ref_gaussian(*args64) * upstream.double()).sum().backward()
    for a, a64, name in zip(args, args64, ["mu_p", "logvar_p", "mu_q", "logvar_q"]):
        assert a.grad is not None, f"no gradient reached {name}"
        assert_close(
            a.grad,
            a64.grad.float(),
            what=f"gradient of gaussian_kl w.r.t. {name}",
            atol=1e-5,
            rtol=2e-4,
        )
