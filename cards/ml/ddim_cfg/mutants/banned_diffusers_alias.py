# expect: uses banned
import torch
from diffusers import DDIMScheduler as Sched


def ddim_step(x_t, eps, t, t_prev, alphas_cumprod, eta=0.0, noise=None):
    # bug: not from scratch, diffusers' scheduler takes the step
    s = Sched(num_train_timesteps=alphas_cumprod.shape[0], clip_sample=False)
    s.alphas_cumprod = alphas_cumprod
    s.num_inference_steps = alphas_cumprod.shape[0] // max(t - t_prev, 1)
    return s.step(eps, t, x_t, eta=eta, variance_noise=noise).prev_sample


def classifier_free_guidance(eps_uncond, eps_cond, scale):
    return torch.lerp(eps_uncond, eps_cond, scale)
