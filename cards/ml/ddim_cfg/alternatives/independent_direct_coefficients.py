# Written from the contract alone, by a writer who had not read this card's verifier.
import math

import torch


def _abar(alphas_cumprod, t):
    t = int(t)
    if t < 0:
        return 1.0
    return float(alphas_cumprod[t])


def ddim_step(x_t, eps, t, t_prev, alphas_cumprod, eta=0.0, noise=None):
    """DDIM eq. 12 rewritten as x_prev = a * x_t + b * eps + sigma * z, with
    a = sqrt(ab_prev / ab_t) and b = sqrt(1 - ab_prev - sigma^2) - sqrt(ab_prev (1 - ab_t) / ab_t)."""
    ab_t = _abar(alphas_cumprod, t)
    ab_prev = _abar(alphas_cumprod, t_prev)
    sigma = (
        eta
        * math.sqrt((1.0 - ab_prev) / (1.0 - ab_t))
        * math.sqrt(max(0.0, 1.0 - ab_t / ab_prev))
    )
    a = math.sqrt(ab_prev / ab_t)
    b = math.sqrt(max(0.0, 1.0 - ab_prev - sigma**2)) - math.sqrt(
        ab_prev * (1.0 - ab_t) / ab_t
    )
    out = a * x_t + b * eps
    if sigma > 0:
        if noise is None:
            noise = torch.randn_like(x_t)
        out = out + sigma * noise
    return out


def classifier_free_guidance(eps_uncond, eps_cond, scale):
    return (
        torch.lerp(eps_uncond, eps_cond, scale)
        if isinstance(scale, torch.Tensor)
        else (1.0 - scale) * eps_uncond + scale * eps_cond
    )
