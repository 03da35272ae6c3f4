# Another style, by the card's author:
# Python floats for the per-step scalars of the reverse step (math.prod over the alphas), view()
# against x0's shape in q_sample, F.mse_loss for the loss, a schedule built from arange.
import math

import torch
import torch.nn.functional as F


def linear_beta_schedule(timesteps, beta_start=1e-4, beta_end=0.02):
    if timesteps == 1:
        return torch.tensor([beta_start], dtype=torch.float64)
    k = torch.arange(timesteps, dtype=torch.float64)
    return beta_start + (beta_end - beta_start) * k / (timesteps - 1)


def q_sample(x0, t, noise, alphas_cumprod):
    ab = alphas_cumprod.gather(0, t).view(x0.shape[0], *([1] * (x0.ndim - 1)))
    return torch.sqrt(ab) * x0 + torch.sqrt(1.0 - ab) * noise


def ddpm_loss(model, x0, t, noise, alphas_cumprod):
    xt = q_sample(x0, t, noise, alphas_cumprod)
    return F.mse_loss(model(xt, t), noise)


def p_sample_step(model, x_t, t, betas, noise=None):
    b = [float(v) for v in betas[: t + 1].tolist()]
    alpha_t = 1.0 - b[t]
    ab_t = math.prod(1.0 - v for v in b)
    ab_prev = math.prod(1.0 - v for v in b[:t])  # empty product = 1 at t = 0
    eps = model(
        x_t, torch.full((x_t.shape[0],), t, dtype=torch.int64, device=x_t.device)
    )
    mean = (x_t - (b[t] / math.sqrt(1.0 - ab_t)) * eps) / math.sqrt(alpha_t)
    if t == 0:
        return mean
    var = b[t] * (1.0 - ab_prev) / (1.0 - ab_t)
    z = torch.randn_like(x_t) if noise is None else noise
    return mean + math.sqrt(var) * z
