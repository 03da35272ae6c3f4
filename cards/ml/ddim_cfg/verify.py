"""Verifier for the DDIM step (eq. 12 of Song et al., 2021) and classifier-free guidance: against
the formulas in float64, for steps that skip timesteps, the final step to t_prev = -1, eta 0,
0.5 and 1 with given noise (and eta = 0 ignoring it), the spread of the noise drawn when
noise=None, float32 and float64, gradients to x_t and eps; guidance at several scales, in half
precision too.

A failed comparison names the classic mistake it matches: alphas_cumprod[-1] for t_prev = -1,
the direction term without -sigma^2, sigma missing its sqrt(1 - ab_t / ab_prev) factor, sigma's
first ratio inverted, eta ignored, the noise scaled by sigma^2, no square root in x0_pred, an x0
clamp to [-1, 1]; guidance from the conditional side or with the sign flipped."""

import pytest
import torch

from cards.checks import (
    assert_close,
    assert_close_diagnosed,
    assert_unchanged,
    call,
    randn,
    tolerance,
)

T = 25


def _ab(device="cpu", dtype=torch.float64):
    betas = torch.linspace(0.001, 0.2, T, dtype=torch.float64)
    return torch.cumprod(1 - betas, 0).to(device=device, dtype=dtype)


def formula(
    x_t,
    eps,
    t,
    t_prev,
    ab,
    eta,
    noise,
    *,
    wrap=False,
    no_sigma_in_dir=False,
    one_factor=False,
    inverted=False,
    no_eta=False,
    noise_by_var=False,
    x0_no_sqrt=False,
    clamp=False,
):
    """DDIM eq. 12 in float64 on the CPU, with one mistake per keyword."""
    x, e, ab = (v.detach().to("cpu", torch.float64) for v in (x_t, eps, ab))
    z = None if noise is None else noise.detach().to("cpu", torch.float64)
    a_t = ab[t]
    a_p = (
        ab[t_prev] if (t_prev >= 0 or wrap) else torch.tensor(1.0, dtype=torch.float64)
    )
    x0 = (x - (1 - a_t).sqrt() * e) / (a_t if x0_no_sqrt else a_t.sqrt())
    if clamp:
        x0 = x0.clamp(-1, 1)
    eta = 0.0 if no_eta else eta
    ratio = (1 - a_t) / (1 - a_p) if inverted else (1 - a_p) / (1 - a_t)
    var = eta**2 * ratio * (1.0 if one_factor else (1 - a_t / a_p))
    # no variance at all (an inverted ratio at ab_prev = 1 would give 0 * inf)
    if eta == 0:
        var = torch.zeros_like(a_t)
    direction = (1 - a_p - (0 if no_sigma_in_dir else var)).clamp(min=0).sqrt() * e
    out = a_p.sqrt() * x0 + direction
    if eta > 0 and z is not None:
        out = out + (var if noise_by_var else var.sqrt()) * z
    return out


VARIANTS = {
    "t_prev = -1 read alphas_cumprod[-1] (the last timestep): t_prev < 0 means ab_prev = 1, "
    "the step lands on x0_pred": {"wrap": True},
    "the direction term is sqrt(1 - ab_prev) eps: take sigma^2 out, sqrt(1 - ab_prev - sigma^2)": {
        "no_sigma_in_dir": True
    },
    "sigma lacks its second factor: sigma = eta sqrt((1 - ab_prev) / (1 - ab_t)) sqrt(1 - ab_t / ab_prev)": {
        "one_factor": True
    },
    "sigma's first ratio is inverted: it is (1 - ab_prev) / (1 - ab_t)": {
        "inverted": True
    },
    "eta was ignored (the step is deterministic): sigma = eta * ..., and sigma * noise is added": {
        "no_eta": True
    },
    "the noise was scaled by sigma^2: scale it by sigma": {"noise_by_var": True},
    "x0_pred divides by ab_t: divide by sqrt(ab_t)": {"x0_no_sqrt": True},
    "x0_pred was clamped to [-1, 1]: no clipping": {"clamp": True},
}


def _inputs(seed, device, dtype=torch.float32, shape=(3, 2, 5, 4)):
    x_t = randn(shape, seed=seed, device=device, dtype=dtype, scale=1.5)
    eps = randn(shape, seed=seed + 1, device=device, dtype=dtype)
    noise = randn(shape, seed=seed + 2, device=device, dtype=dtype)
    return x_t, eps, noise


def _check(impl, x_t, eps, t, t_prev, ab, eta, noise, context):
    before = [v.clone() for v in (x_t, eps, ab)] + (
        [] if noise is None else [noise.clone()]
    )
    kwargs = {"eta": eta} if eta else {}
    if noise is not None:
        kwargs["noise"] = noise
    out = call(impl.ddim_step, x_t, eps, t, t_prev, ab, **kwargs, what="ddim_step")
    for b, v, name in zip(
        before, (x_t, eps, ab, noise), ("x_t", "eps", "alphas_cumprod", "noise")
    ):
        assert_unchanged(b, v, name)
    atol, rtol = tolerance(x_t.dtype)
    assert_close_diagnosed(
        out,
        formula(x_t, eps, t, t_prev, ab, eta, noise).to(
            device=x_t.device, dtype=x_t.dtype
        ),
        lambda: {
            why: formula(x_t, eps, t, t_prev, ab, eta, noise, **kw)
            for why, kw in VARIANTS.items()
        },
        atol=atol,
        rtol=rtol,
        context=context,
    )
    return out


STEPS = [(24, 19), (12, 6), (5, 0), (3, -1), (24, -1)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("t,t_prev", STEPS, ids=[f"{a}to{b}" for a, b in STEPS])
def test_deterministic_ddim(impl, device, t, t_prev, dtype):
    x_t, eps, _ = _inputs(t + 3 * t_prev, device, dtype)
    _check(
        impl,
        x_t,
        eps,
        t,
        t_prev,
        _ab(device, dtype),
        0.0,
        None,
        f"eta=0, t={t} -> t_prev={t_prev}, {dtype}",
    )


def test_eta_zero_ignores_the_noise(impl, device):
    x_t, eps, noise = _inputs(40, device)
    out = _check(
        impl,
        x_t,
        eps,
        12,
        6,
        _ab(device, torch.float32),
        0.0,
        noise,
        "eta=0 with noise given: the noise has no effect",
    )
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("eta", [0.5, 1.0])
@pytest.mark.parametrize(
    "t,t_prev",
    [(24, 19), (12, 11), (5, 0), (3, -1)],
    ids=["24to19", "12to11", "5to0", "3to-1"],
)
def test_stochastic_ddim_with_given_noise(impl, device, eta, t, t_prev):
    x_t, eps, noise = _inputs(50 + t, device)
    _check(
        impl,
        x_t,
        eps,
        t,
        t_prev,
        _ab(device, torch.float32),
        eta,
        noise,
        f"eta={eta}, t={t} -> t_prev={t_prev}, given noise",
    )


def test_gradients_reach_x_t_and_eps(impl, device):
    x_t, eps, noise = _inputs(60, device)
    x_t.requires_grad_()
    eps.requires_grad_()
    ab = _ab(device, torch.float32)
    out = call(
        impl.ddim_step, x_t, eps, 20, 10, ab, eta=0.5, noise=noise, what="ddim_step"
    )
    upstream = randn(out.shape, seed=61, device=device)
    (out * upstream).sum().backward()
    a_t, a_p = ab[20].double().cpu(), ab[10].double().cpu()
    var = 0.25 * (1 - a_p) / (1 - a_t) * (1 - a_t / a_p)
    c_x = (a_p / a_t).sqrt()
    c_eps = (1 - a_p - var).sqrt() - (a_p * (1 - a_t) / a_t).sqrt()
    up = upstream.cpu().double()
    for name, v, coef in (("x_t", x_t, c_x), ("eps", eps, c_eps)):
        assert v.grad is not None, (
            f"no gradient reached `{name}`: is the output detached?"
        )
        assert_close(
            v.grad,
            (coef * up).to(device=device, dtype=v.dtype),
            what=f"gradient of {name}",
        )


def test_noise_none_draws_gaussian_noise(impl, device):
    x_t, eps, _ = _inputs(70, device, shape=(4, 3, 32, 32))
    ab = _ab(device, torch.float32)
    torch.manual_seed(71)
    out = call(impl.ddim_step, x_t, eps, 20, 10, ab, eta=1.0, what="ddim_step")
    assert (
        isinstance(out, torch.Tensor)
        and out.shape == x_t.shape
        and out.dtype == x_t.dtype
    ), f"eta=1, noise=None: expected a {x_t.dtype} tensor of shape {tuple(x_t.shape)}"
    det = formula(x_t, eps, 20, 10, ab, 1.0, None)  # without the noise term
    a_t, a_p = ab[20].double().cpu(), ab[10].double().cpu()
    sigma = ((1 - a_p) / (1 - a_t) * (1 - a_t / a_p)).sqrt()
    z = ((out.detach().cpu().double() - det) / sigma).flatten()
    n = z.numel()
    # 12288 standard normal draws: mean within 6 / sqrt(n), std within 0.05 of 1 (> 6 sd).
    assert abs(z.mean().item()) < 6 / n**0.5 and abs(z.std().item() - 1) < 0.05, (
        f"eta=1, noise=None: (x_prev - its deterministic part) / sigma should be standard "
        f"normal, got mean {z.mean().item():.3f} and std {z.std().item():.3f}: draw "
        "torch.randn_like(x_t) and scale it by sigma"
    )
    again = call(impl.ddim_step, x_t, eps, 20, 10, ab, eta=1.0, what="ddim_step")
    assert not torch.equal(again, out), (
        "eta=1, noise=None: two calls gave the same sample: draw fresh noise"
    )


# -- classifier-free guidance ----------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
@pytest.mark.parametrize("scale", [0.0, 1.0, 3.0, 7.5])
def test_classifier_free_guidance(impl, device, scale, dtype):
    u = randn((2, 3, 4, 4), seed=80, device=device, dtype=dtype)
    c = randn((2, 3, 4, 4), seed=81, device=device, dtype=dtype)
    u0, c0 = u.clone(), c.clone()
    out = call(
        impl.classifier_free_guidance, u, c, scale, what="classifier_free_guidance"
    )
    assert_unchanged(u0, u, "eps_uncond")
    assert_unchanged(c0, c, "eps_cond")
    u64, c64 = u.cpu().double(), c.cpu().double()
    atol, rtol = tolerance(dtype)
    # each rounding is of a value up to (1 + scale) times |u|, |c|
    if dtype == torch.float16:
        atol = atol * 2 * (1 + abs(scale))
    assert_close_diagnosed(
        out,
        (u64 + scale * (c64 - u64)).to(device=device, dtype=dtype),
        lambda: {
            "guidance started from the conditional prediction (c + scale (c - u)): it is "
            "u + scale (c - u), so scale = 1 gives c": c64 + scale * (c64 - u64),
            "the guidance direction is flipped (u + scale (u - c)): it points from u to c": u64
            + scale * (u64 - c64),
            "the arguments were swapped: eps_uncond comes first": c64
            + scale * (u64 - c64),
        },
        atol=atol,
        rtol=rtol,
        context=f"scale={scale}, {dtype}",
    )


def test_guidance_gradients(impl, device):
    u = randn((2, 5), seed=82, device=device).requires_grad_()
    c = randn((2, 5), seed=83, device=device).requires_grad_()
    out = call(
        impl.classifier_free_guidance, u, c, 4.0, what="classifier_free_guidance"
    )
    out.sum().backward()
    assert u.grad is not None and c.grad is not None, (
        "no gradient reached the inputs: is the output detached?"
    )
    assert_close(
        u.grad,
        torch.full_like(u, -3.0),
        what="gradient of eps_uncond",
        context="scale=4",
    )
    assert_close(
        c.grad, torch.full_like(c, 4.0), what="gradient of eps_cond", context="scale=4"
    )
