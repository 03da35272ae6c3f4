# Another style, by the card's author:
# Scalars as Python floats (math.sqrt), the step written as coefficients on x_t and eps, and
# guidance as the (1 - s) u + s c mix.
import math

import torch


def ddim_step(x_t, eps, t, t_prev, alphas_cumprod, eta=0.0, noise=None):
    a_t = float(alphas_cumprod[t])
    a_p = float(alphas_cumprod[t_prev]) if t_prev >= 0 else 1.0
    sigma = eta * math.sqrt((1 - a_p) / (1 - a_t)) * math.sqrt(1 - a_t / a_p)
    c_x = math.sqrt(a_p / a_t)
    c_eps = math.sqrt(max(1 - a_p - sigma**2, 0.0)) - math.sqrt(a_p) * math.sqrt(
        1 - a_t
    ) / math.sqrt(a_t)
    out = c_x * x_t + c_eps * eps
    if sigma > 0:
        z = noise if noise is not None else torch.randn_like(x_t)
        out = out + sigma * z
    return out


def classifier_free_guidance(eps_uncond, eps_cond, scale):
    return (1.0 - scale) * eps_uncond + scale * eps_cond
