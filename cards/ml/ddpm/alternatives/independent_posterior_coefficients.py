# Written from the contract alone, by a writer who had not read this card's verifier.
import math

import torch


def linear_beta_schedule(timesteps, beta_start=1e-4, beta_end=0.02):
    # arange-based linspace including both ends
    if timesteps == 1:
        return torch.tensor([beta_start], dtype=torch.float32)
    steps = torch.arange(timesteps, dtype=torch.float64)
    betas = beta_start + (beta_end - beta_start) * steps / (timesteps - 1)
    return betas.to(torch.float32)


def _extract(a, t, like):
    vals = a.to(device=like.device)[t.to(like.device).long()].to(like.dtype)
    return vals.reshape((-1,) + (1,) * (like.dim() - 1))


def q_sample(x0, t, noise, alphas_cumprod):
    ab = _extract(alphas_cumprod, t, x0)
    return ab.sqrt() * x0 + (1.0 - ab).sqrt() * noise


def ddpm_loss(model, x0, t, noise, alphas_cumprod):
    x_t = q_sample(x0, t, noise, alphas_cumprod)
    pred = model(x_t, t)
    return ((pred - noise) ** 2).mean()


def p_sample_step(model, x_t, t, betas, noise=None):
    """One reverse step via the posterior q(x_{t-1} | x_t, x0_hat):
    mean = c0 * x0_hat + ct * x_t, x0_hat = (x_t - sqrt(1 - ab_t) eps) / sqrt(ab_t)."""
    t = int(t)
    b = betas.detach().to(torch.float64).cpu()
    alphas = 1.0 - b
    ab = torch.cumprod(alphas, dim=0)
    ab_t = float(ab[t])
    ab_prev = float(ab[t - 1]) if t > 0 else 1.0
    beta_t = float(b[t])
    alpha_t = float(alphas[t])

    t_batch = torch.full((x_t.shape[0],), t, dtype=torch.long, device=x_t.device)
    eps = model(x_t, t_batch)
    x0_hat = (x_t - math.sqrt(1.0 - ab_t) * eps) / math.sqrt(ab_t)
    c0 = math.sqrt(ab_prev) * beta_t / (1.0 - ab_t)
    ct = math.sqrt(alpha_t) * (1.0 - ab_prev) / (1.0 - ab_t)
    mean = c0 * x0_hat + ct * x_t
    if t == 0:
        return mean
    var = beta_t * (1.0 - ab_prev) / (1.0 - ab_t)
    if noise is None:
        noise = torch.randn_like(x_t)
    return mean + math.sqrt(var) * noise
