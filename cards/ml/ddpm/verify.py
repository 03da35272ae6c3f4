"""Verifier for DDPM's four functions, against the formulas of Ho et al. (2020) in float64:
the schedule (both ends), q_sample per sample (4-D inputs whose batch size equals their width,
so a coefficient broadcast along the last dim shows; t = 0 and t = T - 1), the epsilon loss
(value and the model's gradients), and the reverse step with given noise at t = 0, 1, the middle
and T - 1, its gradient, and the spread of the noise it draws itself.

The test model predicts noise from x_t and t (a sine embedding of t), so a wrong timestep shows;
it accepts t as a (B,) tensor or an int. A failed comparison names the classic mistake the
output matches: 1-based t, no square roots, the coefficient broadcast along the last dim, x0 as
the loss target, the sum instead of the mean, beta_t as the variance, alphas_cumprod[-1] for
ab_{-1}, 1 / sqrt(ab_t) for 1 / sqrt(alpha_t), the variance used as a standard deviation, an x0
clamp to [-1, 1], the model called with t + 1."""

import copy

import pytest
import torch
from torch import nn

from cards.checks import (
    assert_close,
    assert_close_diagnosed,
    assert_unchanged,
    call,
    generator,
    randn,
    tolerance,
)


class EpsModel(nn.Module):
    """A tiny noise predictor: tanh(w_c * x + sin(0.37 t + phase)) + 0.3 x, per channel c."""

    def __init__(self, channels, seed):
        super().__init__()
        g = generator(seed)
        self.w = nn.Parameter(torch.randn(channels, generator=g))
        self.phase = nn.Parameter(torch.randn(channels, generator=g))

    def forward(self, x, t):
        B = x.shape[0]
        t = torch.as_tensor(t, device=x.device)
        if t.numel() == 1:  # an int, a 0-dim or a (1,) tensor: one step for the batch
            t = t.reshape(()).expand(B)
        assert t.shape == (B,), (
            f"the model's t must be a (B,) tensor or an int, got shape {tuple(t.shape)}"
        )
        shape = (B, -1) + (1,) * (x.dim() - 2)
        w = self.w.view(1, -1, *([1] * (x.dim() - 2)))
        emb = torch.sin(0.37 * t.to(x.dtype)[:, None] + self.phase[None, :]).view(shape)
        return torch.tanh(w * x + emb) + 0.3 * x


def _model(C, seed, device, dtype):
    return EpsModel(C, seed).to(device=device, dtype=dtype)


def _f64(model):
    return copy.deepcopy(model).to("cpu", torch.float64)


def _betas(T=20, device="cpu", dtype=torch.float64):
    return torch.linspace(0.01, 0.3, T, dtype=torch.float64).to(
        device=device, dtype=dtype
    )


def _per_sample(v, x):
    return v.reshape(-1, *([1] * (x.dim() - 1)))


def q_formula(x0, t, noise, ab, *, one_based=False, no_sqrt=False, last_dim=False):
    x0, noise, ab = (v.detach().to("cpu", torch.float64) for v in (x0, noise, ab))
    a = ab[(t.cpu() - 1) if one_based else t.cpu()]
    a = a if last_dim else _per_sample(a, x0)
    if no_sqrt:
        return a * x0 + (1 - a) * noise
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def step_formula(
    model,
    x_t,
    t,
    betas,
    noise,
    *,
    var="posterior",
    prev="one",
    mean_ab=False,
    std_is_var=False,
    clamp=False,
    model_t=None,
):
    """The reverse step in float64 on the CPU with one mistake per keyword."""
    model = _f64(model)
    x = x_t.detach().to("cpu", torch.float64)
    betas = betas.detach().to("cpu", torch.float64)
    noise = None if noise is None else noise.detach().to("cpu", torch.float64)
    alphas = 1 - betas
    ab = torch.cumprod(alphas, 0)
    B = x.shape[0]
    with torch.no_grad():
        eps = model(
            x, torch.full((B,), t if model_t is None else model_t, dtype=torch.long)
        )
    if clamp:
        x0 = ((x - (1 - ab[t]).sqrt() * eps) / ab[t].sqrt()).clamp(-1, 1)
        ab_prev = ab[t - 1] if t > 0 else torch.tensor(1.0, dtype=torch.float64)
        mean = (
            ab_prev.sqrt() * betas[t] * x0 + alphas[t].sqrt() * (1 - ab_prev) * x
        ) / (1 - ab[t])
    else:
        scale = ab[t] if mean_ab else alphas[t]
        mean = (x - betas[t] / (1 - ab[t]).sqrt() * eps) / scale.sqrt()
    if prev == "one":
        ab_prev = ab[t - 1] if t > 0 else torch.tensor(1.0, dtype=torch.float64)
    else:  # Python's negative index at t = 0
        ab_prev = ab[t - 1]
    v = betas[t] if var == "beta" else betas[t] * (1 - ab_prev) / (1 - ab[t])
    if noise is None:
        return mean
    return mean + (v if std_is_var else v.sqrt()) * noise


# -- linear_beta_schedule ------------------------------------------------------------------


@pytest.mark.parametrize(
    "T,start,end", [(1000, 1e-4, 0.02), (10, 1e-3, 0.05), (2, 0.1, 0.2)]
)
def test_linear_beta_schedule(impl, device, T, start, end):
    kwargs = (
        {} if (start, end) == (1e-4, 0.02) else {"beta_start": start, "beta_end": end}
    )
    out = call(impl.linear_beta_schedule, T, **kwargs, what="linear_beta_schedule")
    assert isinstance(out, torch.Tensor) and out.dtype in (
        torch.float32,
        torch.float64,
    ), "linear_beta_schedule must return a float32 or float64 tensor"
    want = torch.linspace(start, end, T, dtype=torch.float64)
    assert_close_diagnosed(
        out,
        want.to(out.dtype),
        lambda: {
            "the last beta is missing (end excluded, as arange does): both ends are included, "
            "torch.linspace(beta_start, beta_end, timesteps)": torch.linspace(
                start, end, T + 1, dtype=torch.float64
            )[:-1],
        },
        atol=1e-7,
        rtol=1e-5,
        context=f"timesteps={T}, beta_start={start}, beta_end={end}",
    )


# -- q_sample ------------------------------------------------------------------------------

Q_VARIANTS = {
    "t was read as 1-based (alphas_cumprod[t - 1]): t is 0-based, ab_t = alphas_cumprod[t]": {
        "one_based": True
    },
    "the square roots are missing: x_t = sqrt(ab_t) x0 + sqrt(1 - ab_t) noise": {
        "no_sqrt": True
    },
    "the per-sample coefficient was broadcast along the last dim (a (B,) tensor times (B, C, H, "
    "W) lines up with W): reshape it to (B, 1, 1, 1)": {"last_dim": True},
}


def _q_variants(x0, t, noise, ab) -> dict:
    """{why: x_t} for the mistakes these shapes can show (a (B,) coefficient broadcast along
    the last dim does not even broadcast against (B, D) with D != B)."""
    found = {}
    for why, kw in Q_VARIANTS.items():
        try:
            found[why] = q_formula(x0, t, noise, ab, **kw)
        except RuntimeError:
            continue
    return found


def _check_q(impl, x0, t, noise, ab, context):
    before = [v.clone() for v in (x0, t, noise, ab)]
    out = call(impl.q_sample, x0, t, noise, ab, what="q_sample")
    for b, v, name in zip(
        before, (x0, t, noise, ab), ("x0", "t", "noise", "alphas_cumprod")
    ):
        assert_unchanged(b, v, name)
    atol, rtol = tolerance(x0.dtype)
    assert_close_diagnosed(
        out,
        q_formula(x0, t, noise, ab).to(device=x0.device, dtype=x0.dtype),
        lambda: _q_variants(x0, t, noise, ab),
        atol=atol,
        rtol=rtol,
        context=context,
    )
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(4, 3, 5, 4), (3, 6)], ids=["BCHW-W=B", "BD"])
def test_q_sample(impl, device, dtype, shape):
    T = 20
    ab = torch.cumprod(1 - _betas(T), 0).to(device=device, dtype=dtype)
    x0 = randn(shape, seed=1, device=device, dtype=dtype)
    noise = randn(shape, seed=2, device=device, dtype=dtype)
    t = torch.tensor([0, T - 1, 7, 3][: shape[0]], device=device)
    _check_q(impl, x0, t, noise, ab, f"{dtype} x0 {shape}, t = {t.tolist()}")


def test_q_sample_gradients(impl, device):
    ab = torch.cumprod(1 - _betas(), 0).to(device=device, dtype=torch.float32)
    x0 = randn((3, 2, 4), seed=3, device=device).requires_grad_()
    noise = randn((3, 2, 4), seed=4, device=device).requires_grad_()
    t = torch.tensor([2, 0, 19], device=device)
    out = call(impl.q_sample, x0, t, noise, ab, what="q_sample")
    upstream = randn(out.shape, seed=5, device=device)
    (out * upstream).sum().backward()
    a = _per_sample(ab[t], x0).detach()
    for name, v, coef in (("x0", x0, a.sqrt()), ("noise", noise, (1 - a).sqrt())):
        assert v.grad is not None, f"no gradient reached `{name}`: is x_t detached?"
        assert_close(v.grad, (coef * upstream).expand_as(v), what=f"gradient of {name}")


# -- ddpm_loss -----------------------------------------------------------------------------


def test_ddpm_loss_value_and_model_gradients(impl, device):
    T = 20
    ab = torch.cumprod(1 - _betas(T), 0).to(device=device, dtype=torch.float32)
    x0 = randn((4, 3, 5, 4), seed=6, device=device)
    noise = randn((4, 3, 5, 4), seed=7, device=device)
    t = torch.tensor([0, 19, 5, 11], device=device)
    model = _model(3, 8, device, torch.float32)
    before = [v.clone() for v in (x0, noise, t)]
    loss = call(impl.ddpm_loss, model, x0, t, noise, ab, what="ddpm_loss")
    for b, v, name in zip(before, (x0, noise, t), ("x0", "noise", "t")):
        assert_unchanged(b, v, name)
    assert isinstance(loss, torch.Tensor) and loss.shape == (), (
        f"ddpm_loss must return a 0-dim tensor (the mean), got {getattr(loss, 'shape', type(loss))}"
    )
    ref_model = _f64(model)
    x0_, n_, ab_ = (v.cpu().double() for v in (x0, noise, ab))
    x_t = q_formula(x0_, t, n_, ab_)
    want = (ref_model(x_t, t.cpu()) - n_).pow(2).mean()
    with torch.no_grad():
        variants = {
            "the loss compares the prediction with x0: the target is the noise": (
                ref_model(x_t, t.cpu()) - x0_
            )
            .pow(2)
            .mean(),
            "the model was given x0: it predicts the noise from x_t = q_sample(x0, t, noise)": (
                ref_model(x0_, t.cpu()) - n_
            )
            .pow(2)
            .mean(),
            "the loss is a sum: take the mean over every element": (
                ref_model(x_t, t.cpu()) - n_
            )
            .pow(2)
            .sum(),
            "the loss is averaged per sample then summed over the batch: take the mean over every element": (
                ref_model(x_t, t.cpu()) - n_
            )
            .pow(2)
            .flatten(1)
            .mean(1)
            .sum(),
        }
    assert_close_diagnosed(
        loss,
        want.detach().to(device=device, dtype=torch.float32),
        lambda: variants,
        context="4 samples, t = [0, 19, 5, 11]",
    )
    loss.backward()
    want.backward()
    for (name, p), ref in zip(model.named_parameters(), ref_model.parameters()):
        assert p.grad is not None, (
            f"no gradient reached the model's `{name}`: is the loss detached?"
        )
        assert_close(
            p.grad,
            ref.grad.to(device=device, dtype=p.dtype),
            what=f"gradient of the model's {name}",
        )


# -- p_sample_step -------------------------------------------------------------------------

STEP_VARIANTS = {
    "the variance is beta_t: use the posterior variance beta_t (1 - ab_{t-1}) / (1 - ab_t)": {
        "var": "beta"
    },
    "at t = 0, ab_{t-1} was read as alphas_cumprod[-1] (the last step): ab_{-1} = 1, so the "
    "variance is 0 and t = 0 returns the mean": {"prev": "wrap"},
    "the mean divides by sqrt(ab_t): it is (x_t - beta_t / sqrt(1 - ab_t) eps) / sqrt(alpha_t), "
    "alpha_t = 1 - beta_t": {"mean_ab": True},
    "the noise was scaled by the variance: scale it by its square root (the standard deviation)": {
        "std_is_var": True
    },
    "x0 was clamped to [-1, 1]: no clipping": {"clamp": True},
}


def _check_step(impl, model, x_t, t, betas, noise, context):
    before = [v.clone() for v in (x_t, betas)] + (
        [] if noise is None else [noise.clone()]
    )
    out = call(impl.p_sample_step, model, x_t, t, betas, noise, what="p_sample_step")
    for b, v, name in zip(before, (x_t, betas, noise), ("x_t", "betas", "noise")):
        assert_unchanged(b, v, name)
    variants = {
        why: (lambda kw=kw: step_formula(model, x_t, t, betas, noise, **kw))
        for why, kw in STEP_VARIANTS.items()
    }
    if t + 1 < betas.shape[0]:
        why = "the model was called with t + 1: give it the step t itself (0-based)"
        variants[why] = lambda: step_formula(model, x_t, t, betas, noise, model_t=t + 1)
    if t > 0:
        why = "the model was called with t - 1: give it the step t itself (0-based)"
        variants[why] = lambda: step_formula(model, x_t, t, betas, noise, model_t=t - 1)
    atol, rtol = tolerance(x_t.dtype)
    assert_close_diagnosed(
        out,
        step_formula(model, x_t, t, betas, noise).to(
            device=x_t.device, dtype=x_t.dtype
        ),
        lambda: variants,
        atol=atol,
        rtol=rtol,
        context=context,
    )
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("t", [0, 1, 10, 19])
def test_p_sample_step_with_given_noise(impl, device, t, dtype):
    betas = _betas(20, device, dtype)
    model = _model(3, 9, device, dtype)
    x_t = randn((4, 3, 5, 4), seed=10 + t, device=device, dtype=dtype, scale=1.5)
    noise = randn((4, 3, 5, 4), seed=30 + t, device=device, dtype=dtype)
    _check_step(impl, model, x_t, t, betas, noise, f"t={t} of 20, {dtype}, given noise")


def test_p_sample_step_gradient_reaches_x_t(impl, device):
    betas = _betas(20, device, torch.float32)
    model = _model(3, 11, device, torch.float32)
    x_t = randn((2, 3, 4, 4), seed=12, device=device).requires_grad_()
    noise = randn((2, 3, 4, 4), seed=13, device=device)
    out = call(impl.p_sample_step, model, x_t, 6, betas, noise, what="p_sample_step")
    upstream = randn(out.shape, seed=14, device=device)
    (out * upstream).sum().backward()
    assert x_t.grad is not None, "no gradient reached x_t: is the output detached?"
    x64 = x_t.detach().cpu().double().requires_grad_()
    m64, b64 = _f64(model), betas.cpu().double()
    ab = torch.cumprod(1 - b64, 0)
    eps = m64(x64, torch.full((2,), 6))
    mean = (x64 - b64[6] / (1 - ab[6]).sqrt() * eps) / (1 - b64[6]).sqrt()
    (mean * upstream.cpu().double()).sum().backward()
    assert_close(
        x_t.grad,
        x64.grad.to(device=device, dtype=torch.float32),
        what="gradient of x_t",
    )


def test_p_sample_step_draws_its_own_noise(impl, device):
    betas = _betas(20, device, torch.float32)
    model = _model(3, 15, device, torch.float32)
    x_t = randn((4, 3, 32, 32), seed=16, device=device)
    torch.manual_seed(17)
    out = call(impl.p_sample_step, model, x_t, 10, betas, what="p_sample_step")
    mean = step_formula(model, x_t, 10, betas, None)
    ab = torch.cumprod(1 - betas.cpu().double(), 0)
    std = (betas.cpu().double()[10] * (1 - ab[9]) / (1 - ab[10])).sqrt()
    assert (
        isinstance(out, torch.Tensor)
        and out.shape == x_t.shape
        and out.dtype == x_t.dtype
    ), f"noise=None: expected a {x_t.dtype} tensor of shape {tuple(x_t.shape)}"
    z = ((out.detach().cpu().double() - mean) / std).flatten()
    n = z.numel()
    # 12288 standard normal draws: the sample mean is within 6 / sqrt(n) = 0.054 and the sample
    # std within 6 * sqrt(1 / (2n)) = 0.038 of 0 and 1 except once in hundreds of millions.
    assert abs(z.mean().item()) < 6 / n**0.5 and abs(z.std().item() - 1) < 0.05, (
        f"noise=None at t=10: (x_(t-1) - mean) / sqrt(posterior variance) should be standard "
        f"normal, got mean {z.mean().item():.3f} and std {z.std().item():.3f}: draw "
        "torch.randn_like(x_t) and scale it by the square root of the posterior variance"
    )
    again = call(impl.p_sample_step, model, x_t, 10, betas, what="p_sample_step")
    assert not torch.equal(again, out), (
        "noise=None: two calls gave the same sample: draw fresh noise"
    )
    out0 = call(impl.p_sample_step, model, x_t, 0, betas, what="p_sample_step")
    assert_close(
        out0,
        step_formula(model, x_t, 0, betas, None).to(device=device, dtype=torch.float32),
        context="noise=None at t=0: the mean, no noise",
    )
