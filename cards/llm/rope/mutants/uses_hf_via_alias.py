# expect: uses banned `transformers`
import torch
import transformers.models.llama.modeling_llama as llama_impl  # dodge: Hugging Face does the rotation


def apply_rope(x, positions=None, base=10000.0):
    T, D = x.shape[-2:]
    if positions is None:
        positions = torch.arange(T, device=x.device)
    inv_freq = 1.0 / base ** (torch.arange(0, D, 2, device=x.device).float() / D)
    angles = positions.float()[:, None] * inv_freq
    emb = torch.cat((angles, angles), dim=-1)
    xf = x.float()
    return (xf * emb.cos() + llama_impl.rotate_half(xf) * emb.sin()).to(x.dtype)
