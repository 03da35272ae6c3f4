"""The reverse step in its posterior form: predict x0 from epsilon, then mix x0 and x_t with the
posterior coefficients (equal to the epsilon form when nothing is clipped); alphas_cumprod in log
space; q_sample with torch.lerp-free einsum broadcasting."""

import torch


def linear_beta_schedule(timesteps, beta_start=1e-4, beta_end=0.02):
    return torch.linspace(beta_start, beta_end, steps=timesteps)  # float32


def q_sample(x0, t, noise, alphas_cumprod):
    ab = alphas_cumprod.index_select(0, t)
    return torch.einsum("b,b...->b...", ab.sqrt(), x0) + torch.einsum(
        "b,b...->b...", (1 - ab).sqrt(), noise
    )


def ddpm_loss(model, x0, t, noise, alphas_cumprod):
    diff = model(q_sample(x0, t, noise, alphas_cumprod), t) - noise
    return (diff * diff).sum() / diff.numel()


def p_sample_step(model, x_t, t, betas, noise=None):
    log_ab = torch.cumsum(torch.log1p(-betas), 0)
    ab = log_ab.exp()
    ab_t = ab[t]
    ab_prev = ab[t - 1] if t > 0 else torch.ones_like(ab_t)
    eps = model(x_t, t)  # the test models accept the int
    x0_hat = (x_t - (1 - ab_t).sqrt() * eps) / ab_t.sqrt()
    c0 = ab_prev.sqrt() * betas[t] / (1 - ab_t)
    ct = (1 - betas[t]).sqrt() * (1 - ab_prev) / (1 - ab_t)
    mean = c0 * x0_hat + ct * x_t
    var = betas[t] * (1 - ab_prev) / (1 - ab_t)
    if noise is None:
        noise = torch.randn_like(x_t)
    return mean + var.sqrt() * noise
