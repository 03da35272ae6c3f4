# expect: a running max started at 0
import math
import torch


def flash_attention(query, key, value, is_causal=False, block_size=64):
    B, H, Nq, D = query.shape
    Nk, Dv = key.shape[-2], value.shape[-1]
    dev = query.device
    scale = 1.0 / math.sqrt(D)
    outs = []
    for q0 in range(0, Nq, block_size):
        q1 = min(q0 + block_size, Nq)
        q = query[:, :, q0:q1].float()
        m = torch.full((B, H, q1 - q0, 1), 0.0, device=dev)
        l = torch.zeros(B, H, q1 - q0, 1, device=dev)
        acc = torch.zeros(B, H, q1 - q0, Dv, device=dev)
        for k0 in range(0, Nk, block_size):
            if is_causal and k0 >= q1:
                break
            k1 = min(k0 + block_size, Nk)
            s = q @ key[:, :, k0:k1].float().transpose(-1, -2) * scale
            if is_causal:
                qi = torch.arange(q0, q1, device=dev)[:, None]
                kj = torch.arange(k0, k1, device=dev)[None, :]
                s = s.masked_fill(kj > qi, float("-inf"))
            m_new = torch.maximum(m, s.amax(-1, keepdim=True))
            p = torch.exp(s - m_new)
            alpha = torch.exp(m - m_new)
            l = alpha * l + p.sum(-1, keepdim=True)
            acc = alpha * acc + p @ value[:, :, k0:k1].float()
            m = m_new
        outs.append(acc / l)
    return torch.cat(outs, dim=2).to(query.dtype)
