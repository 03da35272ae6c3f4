# expect: broadcast along the last dim
import torch


def linear_beta_schedule(
    timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02
) -> torch.Tensor:
    return torch.linspace(beta_start, beta_end, timesteps, dtype=torch.float64)


def _per_sample(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(B,) -> (B, 1, 1, ...): one coefficient per sample, broadcast over its trailing dims
    (never against the last dim, which may happen to equal B)."""
    return values.reshape(-1, *([1] * (x.dim() - 1)))


def q_sample(
    x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, alphas_cumprod: torch.Tensor
) -> torch.Tensor:
    a = alphas_cumprod[t]  # bug: (B,) against (B, ..., W) lines up with the last dim
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def ddpm_loss(
    model,
    x0: torch.Tensor,
    t: torch.Tensor,
    noise: torch.Tensor,
    alphas_cumprod: torch.Tensor,
) -> torch.Tensor:
    x_t = q_sample(x0, t, noise, alphas_cumprod)
    return (model(x_t, t) - noise).pow(2).mean()  # the target is the noise, not x0


def p_sample_step(
    model,
    x_t: torch.Tensor,
    t: int,
    betas: torch.Tensor,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    alphas = 1 - betas
    alphas_cumprod = torch.cumprod(alphas, dim=0)
    t_batch = torch.full((x_t.shape[0],), t, dtype=torch.long, device=x_t.device)
    eps = model(x_t, t_batch)
    beta, alpha, ab = betas[t], alphas[t], alphas_cumprod[t]
    mean = (x_t - beta / (1 - ab).sqrt() * eps) / alpha.sqrt()
    if t == 0:  # ab_{-1} = 1: the posterior variance is 0 (not alphas_cumprod[-1])
        return mean
    var = beta * (1 - alphas_cumprod[t - 1]) / (1 - ab)
    if noise is None:
        noise = torch.randn_like(x_t)
    return mean + var.sqrt() * noise
