# An additive float bias (0 / -inf) built with torch.where, a hand-written stable softmax.
import math

import torch


def sliding_window_attention(query, key, value, window):
    N = query.shape[-2]
    pos = torch.arange(N, device=query.device)
    dist = pos.view(-1, 1) - pos.view(1, -1)  # i - j
    bias = torch.where(
        (dist >= 0) & (dist < window),
        torch.zeros((), dtype=query.dtype, device=query.device),
        torch.full((), float("-inf"), dtype=query.dtype, device=query.device),
    )
    s = torch.matmul(query, key.transpose(-1, -2)) * (1 / math.sqrt(query.shape[-1]))
    s = s + bias
    s = s - s.amax(dim=-1, keepdim=True)
    e = s.exp()
    return torch.matmul(e / e.sum(dim=-1, keepdim=True), value)
