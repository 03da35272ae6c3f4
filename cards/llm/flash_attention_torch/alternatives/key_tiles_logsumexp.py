# Key tiles only (all queries at once), tracking the running log-sum-exp instead of (max, sum):
# the output is kept normalised after every tile, out = out * exp(lse_old - lse_new) +
# exp(s - lse_new) @ v. Computed in float32.
import math

import torch


def flash_attention(query, key, value, is_causal=False, block_size=64):
    Nq, Nk, D = query.shape[-2], key.shape[-2], query.shape[-1]
    q = query.float() * (1 / math.sqrt(D))
    qpos = torch.arange(Nq, device=query.device).unsqueeze(-1)
    out = torch.zeros(*query.shape[:-1], value.shape[-1], device=query.device)
    lse = torch.full((*query.shape[:-1], 1), -math.inf, device=query.device)
    for start in range(0, Nk, block_size):
        if is_causal and start >= Nq:
            break  # top-left: no query sees keys at or after position Nq
        kt = key[..., start : start + block_size, :].float()
        vt = value[..., start : start + block_size, :].float()
        s = torch.matmul(q, kt.transpose(-1, -2))
        if is_causal:
            kpos = torch.arange(start, start + kt.shape[-2], device=query.device)
            s = torch.where(kpos.unsqueeze(0) <= qpos, s, -math.inf)
        new = torch.logaddexp(lse, torch.logsumexp(s, dim=-1, keepdim=True))
        out = out * torch.exp(lse - new) + torch.exp(s - new) @ vt
        lse = new
    return out.to(query.dtype)
