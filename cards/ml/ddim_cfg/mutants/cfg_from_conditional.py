# expect: guidance started from the conditional prediction
import torch


def ddim_step(
    x_t: torch.Tensor,
    eps: torch.Tensor,
    t: int,
    t_prev: int,
    alphas_cumprod: torch.Tensor,
    eta: float = 0.0,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    ab_t = alphas_cumprod[t]
    # t_prev < 0: the last step lands on x0 (ab = 1), never alphas_cumprod[-1].
    ab_prev = alphas_cumprod[t_prev] if t_prev >= 0 else torch.ones_like(ab_t)
    x0 = (x_t - (1 - ab_t).sqrt() * eps) / ab_t.sqrt()  # no clipping
    sigma = eta * ((1 - ab_prev) / (1 - ab_t) * (1 - ab_t / ab_prev)).sqrt()
    # sigma^2 is taken out of the direction term: the total variance stays 1 - ab_prev.
    out = ab_prev.sqrt() * x0 + (1 - ab_prev - sigma**2).clamp(min=0).sqrt() * eps
    if eta > 0:
        if noise is None:
            noise = torch.randn_like(x_t)
        out = out + sigma * noise
    return out


def classifier_free_guidance(
    eps_uncond: torch.Tensor, eps_cond: torch.Tensor, scale: float
) -> torch.Tensor:
    return eps_cond + scale * (eps_cond - eps_uncond)  # bug: the extrapolation starts at c
