# expect: uses banned
import torch
from diffusers import DDPMScheduler as Sched


def linear_beta_schedule(timesteps, beta_start=1e-4, beta_end=0.02):
    return torch.linspace(beta_start, beta_end, timesteps)


def q_sample(x0, t, noise, alphas_cumprod):
    # bug: not from scratch, diffusers' scheduler adds the noise
    s = Sched(num_train_timesteps=alphas_cumprod.shape[0])
    s.alphas_cumprod = alphas_cumprod
    return s.add_noise(x0, noise, t)


def ddpm_loss(model, x0, t, noise, alphas_cumprod):
    return (model(q_sample(x0, t, noise, alphas_cumprod), t) - noise).pow(2).mean()


def p_sample_step(model, x_t, t, betas, noise=None):
    s = Sched(num_train_timesteps=betas.shape[0], trained_betas=betas.tolist(), clip_sample=False)
    return s.step(model(x_t, t), t, x_t).prev_sample
