"""alphas_cumprod padded with a leading 1 so that index t_prev + 1 covers t_prev = -1, sigma via
the equivalent form eta * sqrt((1 - ab_prev) / (1 - ab_t) * (1 - alpha_ratio)), guidance with
torch.lerp."""

import torch


def ddim_step(x_t, eps, t, t_prev, alphas_cumprod, eta=0.0, noise=None):
    padded = torch.cat([alphas_cumprod.new_ones(1), alphas_cumprod])
    ab_t, ab_prev = padded[t + 1], padded[max(t_prev, -1) + 1]
    pred_x0 = (x_t - torch.sqrt(1 - ab_t) * eps) / torch.sqrt(ab_t)
    var = eta**2 * (1 - ab_prev) / (1 - ab_t) * (1 - ab_t / ab_prev)
    direction = torch.sqrt(torch.clamp(1 - ab_prev - var, min=0)) * eps
    z = (
        torch.zeros_like(x_t)
        if eta == 0
        else (torch.randn_like(x_t) if noise is None else noise)
    )
    return torch.sqrt(ab_prev) * pred_x0 + direction + torch.sqrt(var) * z


def classifier_free_guidance(eps_uncond, eps_cond, scale):
    return torch.lerp(eps_uncond, eps_cond, scale)
